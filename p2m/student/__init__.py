"""The trained student as an artefact: its kinds (`kinds`: classifier, span extractor, causal LM), loaded
and run (`model`), served over an OpenAI-compatible API (`serve`), uploaded to the Hub (`hub`)."""
