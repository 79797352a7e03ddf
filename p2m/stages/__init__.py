"""The pipeline's stages, in order."""

from p2m.stages.evaluate import Evaluate
from p2m.stages.parse import Parse
from p2m.stages.report import Report
from p2m.stages.retrieve import Retrieve
from p2m.stages.synthesize import Synthesize
from p2m.stages.train import Train
from p2m.stages.verify import Verify

STAGES = [Parse, Retrieve, Synthesize, Verify, Train, Evaluate, Report]
