"""The teacher: every call goes through one cached, accounted layer (`calls.Teacher`) to a backend:
llama.cpp for GGUF files (`llamacpp`), transformers for model directories (`local`), or an
OpenAI-compatible API (`openai_compat`). `files` resolves presets to GGUF files, `structured` reads
typed JSON answers, `answers` builds and reads a task's answer requests, `choice` picks the backend."""
