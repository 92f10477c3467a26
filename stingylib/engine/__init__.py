"""The training engine: one epoch loop for every method, and one safe way to train a run.

Three small modules, each one layer:

- :mod:`.loop`: :func:`~stingylib.engine.loop.fit_cohort` / :func:`~stingylib.engine.loop.fit`, the epoch
  loop (not locked). A cohort is a set of runs that share a teacher and their data order: one batch and one teacher pass serve them all,
  and each record is bit-identical to training the run alone on a CPU.
- :mod:`.finish`: :func:`~stingylib.engine.finish.finish_run`, a finished run's weights (those of the
  epoch selected on validation, else the final ones) and its validated record; :mod:`.member` holds one run of a fit.
- :mod:`.locked`: :func:`~stingylib.engine.locked.train_locked` /
  :func:`~stingylib.engine.locked.train_run`, training under each run's lock, with the repairs that make an interrupted or damaged run resumable (the runner's unit of work).

Frozen networks (teacher, adversary) are in eval mode, run without gradient and in the precision of
their own run, with their BatchNorm folded into their convolutions (evaluation uses such a copy of
the trained network too). Each network runs in its run's precision (:mod:`stingylib.fastpath`) and
the memory format measured fastest for its architecture and use. Weights and checkpoints are read
and written by :mod:`stingylib.checkpoints`, accuracy is measured by :mod:`stingylib.evaluation`;
the engine has no command line (``python -m stingylib run`` is the one).
"""

from ..checkpoints import CorruptFileError, load_network, load_run
from ..evaluation import EVAL_BATCH, SAMPLE_IMAGES, evaluate
from .finish import finish_run
from .locked import Outcome, train_locked, train_run
from .loop import TrainingDiverged, check_cohort, fit, fit_cohort

__all__ = ["EVAL_BATCH", "SAMPLE_IMAGES", "CorruptFileError", "Outcome", "TrainingDiverged", "check_cohort",
           "evaluate", "finish_run", "fit", "fit_cohort", "load_network", "load_run", "train_locked", "train_run"]
