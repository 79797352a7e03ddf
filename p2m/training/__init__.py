"""How students learn: distillation losses as `transformers.Trainer` subclasses (`distill`) and WMSS's
example selection (`wmss`). The stage that drives them is `p2m/stages/train.py`."""
