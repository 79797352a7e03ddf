"""A run's artefacts in the formats the ecosystem reads: the data as a Hugging Face dataset, the
student as ONNX (encoder classifiers, for ONNX Runtime) or GGUF (causal students, for llama.cpp)."""
