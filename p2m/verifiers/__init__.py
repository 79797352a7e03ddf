"""Weak verifiers and their combination: per-candidate signals (`signals`), sentence embeddings
(`embeddings`), keyword rules (`keyword_rules`), the label model that weighs them (`label_model`) and
the verifier distilled from its labels (`distilled`)."""
