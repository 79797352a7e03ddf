"""The trained student as an artefact: loaded and run (`model`), served over an OpenAI-compatible API
(`serve`), uploaded to the Hub (`hub`)."""
