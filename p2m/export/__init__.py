"""A run's artefacts in the formats the ecosystem reads: the data as a Hugging Face dataset, the
student as ONNX (encoder classifiers and span extractors, for ONNX Runtime) or GGUF (causal students, for llama.cpp)."""
