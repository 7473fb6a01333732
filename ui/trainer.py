"""The server's state, and every handler of the page: one `TrainerApp` per server.

It holds where data and checkpoints live (`Storage`), the one background `TrainingJob`, the
step-time model and the model loaded for sampling. Its methods are the tabs' handlers, each
written in its tab's module (`ui/train_tab.py`, `ui/data_tab.py`, `ui/sample_tab.py`, `ui/runs_tab.py`).
"""

from __future__ import annotations

from .data_tab import DataTab
from .inside_view import InsideView
from .job import TrainingJob
from .runs_tab import RunsTab
from .sample_tab import SampleTab
from .speed import StepTimeModel
from .storage import Storage
from .train_tab import TrainTab


class TrainerApp(TrainTab, DataTab, SampleTab, InsideView, RunsTab):
    def __init__(self, storage: Storage, train_on_caller_thread: bool = False):
        SampleTab.__init__(self)
        self.storage = storage
        self.job = TrainingJob(on_caller_thread=train_on_caller_thread)
        self.speed = StepTimeModel()
