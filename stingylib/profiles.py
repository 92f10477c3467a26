"""Experiment profiles: every hyperparameter of every experiment, in one place.

A profile is a named, documented set of values from which :mod:`stingylib.experiments` builds the
runs of Table 1, Table 2 and the figure:

- ``smoke``: scikit-learn's digits, tiny widths, three epochs — the whole grid in about a minute on
  two CPU cores. It proves the pipeline, not the science.
- ``cpu``: real data (Fashion-MNIST, a class-balanced subset), width-scaled versions of the paper's
  architectures, and the CIFAR-10 recipe of SPEC §4 scaled down in epochs (N = 2; τ = 20 for stingy
  and reversed KD, τ = 4 for normal and nasty KD; nasty ω = 0.04, τ_A = 4) — about an hour on two
  CPU cores, with teachers good enough for KD to matter.
- ``paper``: the paper's setting exactly (SPEC §3–§4): CIFAR-100 for Table 1 and the figure,
  CIFAR-10 and CIFAR-100 for Table 2, full-width models. Days of GPU time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """How every network of one dataset is trained and distilled (SPEC §4).

    One recipe drives the teachers, the nasty teachers, the students and their baselines of a
    dataset, as in the reference code.
    """

    dataset: str
    epochs: int
    lr: float
    milestones: tuple[int, ...]
    gamma: float
    keep: int  # N, the stingy teacher's kept classes
    kd_temperature: float  # KD from normal and nasty teachers
    stingy_temperature: float  # KD from stingy (sparse/smooth) and reversed teachers
    alpha: float  # weight of the KD term
    nasty_temperature: float  # τ_A of nasty training
    nasty_omega: float  # ω of nasty training
    batch_size: int = 128
    train_per_class: int | None = None  # class-balanced subset (None: the whole split)
    test_per_class: int | None = None


@dataclass(frozen=True)
class DaflRecipe:
    """Data-free KD with DAFL on one dataset (SPEC §3): a ResNet-34 teacher → ResNet-18 student."""

    teacher: Recipe  # how the dataset's teachers (normal, nasty) are trained
    epochs: int
    iterations_per_epoch: int
    batch_size: int
    latent_dim: int
    generator_lr: float
    lr: float  # the student's SGD learning rate
    milestones: tuple[int, ...]
    gamma: float
    one_hot: float
    info_entropy: float
    activation: float
    teacher_model: str = "resnet34"
    student_model: str = "resnet18"


@dataclass(frozen=True)
class Profile:
    """Everything the experiments of one profile need."""

    name: str
    description: str
    table1: Recipe  # Table 1 and the figure
    table2: tuple[DaflRecipe, ...]  # one per dataset
    widths: tuple[tuple[str, float], ...]  # model name → width multiplier
    teachers: tuple[str, ...] = ("resnet18", "resnet50", "resnext29")
    students: tuple[str, ...] = ("shufflenetv2", "mobilenetv2", "resnet18")
    figure_teacher: str = "resnet18"
    figure_student: str = "resnet18"
    figure_keeps: tuple[int, ...] = ()  # N values of the sparse/smooth sweep (N = K is normal KD)
    seeds: tuple[int, ...] = (0,)
    # model name → its runs' precision ("fp32" or "bf16", stingylib.fastpath); unlisted: default_precision.
    # Part of every run's identity: a profile fixes it, whatever machine trains the runs.
    precisions: tuple[tuple[str, str], ...] = ()
    default_precision: str = "fp32"
    # torch CPU threads per run unless the caller says otherwise (None: torch's default). The small
    # profiles use one: their models are too small to gain from a second thread, and two OpenMP
    # threads on a busy 2-core machine run 10-100x slower than one (measured here).
    threads: int | None = None
    notes: tuple[str, ...] = field(default=())

    def width(self, model: str) -> float:
        """The width multiplier of ``model`` in this profile."""
        return dict(self.widths).get(model, 1.0)

    def precision(self, model: str) -> str:
        """The precision of ``model``'s runs in this profile."""
        return dict(self.precisions).get(model, self.default_precision)


# --- paper (SPEC §3–§4 exactly) -------------------------------------------------------------------

CIFAR100 = Recipe(
    dataset="cifar100", epochs=200, lr=0.1, milestones=(60, 120, 160), gamma=0.2, keep=10,
    kd_temperature=20.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=20.0, nasty_omega=0.005,
)
CIFAR10 = Recipe(
    dataset="cifar10", epochs=160, lr=0.1, milestones=(80, 120), gamma=0.1, keep=2,
    kd_temperature=4.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.04,
)
_DAFL_PAPER = dict(epochs=2000, iterations_per_epoch=120, batch_size=1024, latent_dim=1000, generator_lr=0.02,
                   lr=0.1, milestones=(800, 1600), gamma=0.1)
DAFL_CIFAR10 = DaflRecipe(teacher=CIFAR10, one_hot=0.05, info_entropy=5.0, activation=0.01, **_DAFL_PAPER)
DAFL_CIFAR100 = DaflRecipe(teacher=CIFAR100, one_hot=0.5, info_entropy=20.0, activation=0.1, **_DAFL_PAPER)

PAPER = Profile(
    name="paper",
    description="The paper's setting: CIFAR-100 (Table 1, figure), CIFAR-10 and CIFAR-100 (Table 2), "
                "full-width models, the reference recipes of SPEC §3-§4. Needs GPUs and days.",
    table1=CIFAR100,
    table2=(DAFL_CIFAR10, DAFL_CIFAR100),
    widths=(),
    figure_keeps=(1, 2, 5, 10, 20, 50, 100),
    # bf16 autocast everywhere, as the engine always did on GPUs: made for Ampere or newer GPUs (older
    # ones, and CPUs without native bf16, emulate it slowly).
    default_precision="bf16",
)

# --- cpu: Fashion-MNIST, the CIFAR-10 recipe scaled in epochs ------------------------------------

FASHION = Recipe(
    dataset="fashion-mnist", epochs=10, lr=0.1, milestones=(5, 8), gamma=0.1, keep=2,
    kd_temperature=4.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.04,
    train_per_class=400, test_per_class=200,
)

CPU = Profile(
    name="cpu",
    description="Fashion-MNIST (4,000 train / 2,000 test images, class-balanced), width-scaled models, "
                "the CIFAR-10 recipe of SPEC §4 scaled from 160 to 10 epochs (lr ×0.1 at epochs 5 and 8). "
                "About an hour on two CPU cores.",
    table1=FASHION,
    table2=(DaflRecipe(teacher=FASHION, epochs=10, iterations_per_epoch=30, batch_size=128, latent_dim=1000,
                       generator_lr=0.02, lr=0.1, milestones=(5, 8), gamma=0.1,
                       one_hot=0.05, info_entropy=5.0, activation=0.01),),
    widths=(("resnet18", 0.125), ("resnet34", 0.125), ("resnet50", 0.0625), ("resnext29", 0.0625),
            ("mobilenetv2", 0.125), ("shufflenetv2", 0.125)),
    figure_keeps=tuple(range(1, 11)),
    threads=1,
    notes=("ResNet-50 and ResNeXt-29 run at half the width of the others (1/16 of the paper's): at 1/8 "
           "they train 4-6x slower than ResNet-18 on one CPU core (measured with "
           "benchmarks/bench_models.py) and would not fit the hour.",),
)

# --- smoke: digits, one epoch -------------------------------------------------------------------

DIGITS = Recipe(
    dataset="digits", epochs=3, lr=0.05, milestones=(2,), gamma=0.1, keep=2,
    kd_temperature=4.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.04,
    batch_size=50, train_per_class=100, test_per_class=40,
)

SMOKE = Profile(
    name="smoke",
    description="scikit-learn's digits (1,000 train / 400 test images of 8x8 pixels), tiny widths, three "
                "epochs: proves the pipeline end to end in about a minute, not the science.",
    table1=DIGITS,
    table2=(DaflRecipe(teacher=DIGITS, epochs=3, iterations_per_epoch=5, batch_size=64, latent_dim=64,
                       generator_lr=0.02, lr=0.05, milestones=(2,), gamma=0.1,
                       one_hot=0.05, info_entropy=5.0, activation=0.01),),
    widths=tuple((m, 0.125) for m in ("resnet18", "resnet34", "resnet50", "resnext29", "mobilenetv2",
                                        "shufflenetv2")),
    figure_keeps=tuple(range(1, 11)),
    threads=1,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, CPU, PAPER)}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``smoke``, ``cpu`` or ``paper``)."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}; got {name!r}")
    return PROFILES[name]
