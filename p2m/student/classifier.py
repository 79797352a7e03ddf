"""The classification student: a sentence encoder's mean-pooled, unit-length embedding and one linear
layer over it.

Why not transformers' sequence-classification head: it reads the first token, which sentence encoders
(all-MiniLM, all-mpnet) were never trained to fill, and starts from random weights that the first
steps of fine-tuning on a few noisy synthetic rows push the encoder around to fit. Here the head is
fitted first on the frozen embeddings (a linear probe, convex, in seconds; `--label-prior names` pulls
it toward the label names' own embeddings, the zero-shot classifier), and `--classifier-tuning full`
then fine-tunes encoder and head together from there (LP-FT, Kumar et al. 2022). Last, the label names'
embeddings through the trained encoder are added to the head (`--label-prototypes`): a product of the
trained head and the zero-shot classifier, still one linear layer."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

HEAD_FILE = "classifier.safetensors"
PRIOR_SCALE = 20.0  # label-name prototypes as logits at temperature 0.05, as the embedding verifier reads them


class EmbeddingClassifier(torch.nn.Module):
    """Encoder -> mean pooling over real tokens -> unit length -> linear layer to the labels."""

    def __init__(self, body, num_labels: int):
        super().__init__()
        self.body = body
        self.head = torch.nn.Linear(body.config.hidden_size, num_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **body_inputs) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, **body_inputs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None, **body_inputs
    ):
        """Logits (and the CE loss with `labels`); `body_inputs` such as BERT's token_type_ids reach the encoder."""
        logits = self.head(self.embed(input_ids, attention_mask, **body_inputs).to(self.head.weight.dtype))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save(self, model_dir: Path) -> None:
        from safetensors.torch import save_file

        self.body.save_pretrained(str(model_dir))
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(Path(model_dir) / HEAD_FILE))

    @classmethod
    def load(cls, model_dir: str | Path, num_labels: int, dtype=torch.float32) -> EmbeddingClassifier:
        from safetensors.torch import load_file
        from transformers import AutoModel

        model = cls(AutoModel.from_pretrained(str(model_dir), dtype=dtype), num_labels)
        model.head.load_state_dict(load_file(str(Path(model_dir) / HEAD_FILE)))
        return model.to(dtype)


@torch.no_grad()  # not inference_mode: the head is fitted with autograd on these tensors
def embed_texts(
    model: EmbeddingClassifier, tokenizer, texts: list[str], max_length: int, batch_size: int = 32
) -> torch.Tensor:
    """Unit-length embeddings of `texts` by the model's encoder, as float32 on the CPU."""
    chunks = [torch.empty(0, model.body.config.hidden_size)]
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        enc = enc.to(model.head.weight.device)
        chunks.append(model.embed(enc["input_ids"], enc["attention_mask"]).float().cpu())
    return torch.cat(chunks)


def label_prototypes(model: EmbeddingClassifier, tokenizer, labels: list[str], max_length: int) -> torch.Tensor:
    """The zero-shot classifier's weights in this encoder's space (labels, d): each label name's unit
    embedding, scaled to the temperature at which the embedding verifier reads them."""
    return PRIOR_SCALE * embed_texts(model, tokenizer, labels, max_length)


def fit_head(
    x: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor | None, c: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on embeddings `x` (n, d) to target distributions (n, labels),
    with an L2 penalty 1/(2c) on the weights' distance from `prior` (labels, d; zero when None: the
    plain probe, scikit-learn's C). Convex, fitted by L-BFGS; returns (weight, bias)."""
    anchor = prior if prior is not None else torch.zeros(targets.shape[1], x.shape[1])
    weight = anchor.clone().requires_grad_(True)
    bias = torch.zeros(targets.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        log_probs = F.log_softmax(x @ weight.T + bias, dim=-1)
        value = -(targets * log_probs).sum() + 0.5 / c * (weight - anchor).pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weight.detach(), bias.detach()
