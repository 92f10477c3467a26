"""Experiment profiles: every hyperparameter of every experiment, in one place.

A profile is a named set of values from which the experiments (:mod:`stingylib.experiments`) build
their runs. Every field says what it means (``metadata=doc(...)``), and :func:`profile_numbers`
flattens a profile into one table of settings that the book shows beside its results, so the text
and the recipe cannot drift apart.

- ``smoke``: scikit-learn's digits, tiny widths, two student epochs (three for teachers), two student
  seeds, and every option of the cpu grid (one τ with a second τ for the figure, a transfer set per
  seed, a cosine schedule, clipped-gradient controls): the whole grid on two CPU cores in minutes (the
  README gives the measured time). It proves the pipeline, not the science.
- ``cpu``: real data (Fashion-MNIST), width-scaled versions of the paper's architectures, a recipe
  calibrated on the controls only (teachers on the whole training split, students on a smaller
  transfer set, selection on a validation split, three student seeds) with the paper's CIFAR-10
  distillation settings (N = 2; τ = 20 for stingy and reversed KD, τ = 4 for normal and nasty KD;
  nasty τ_A = 4). Its committed records say what it cost (the book's results page sums them).
- ``paper``: the paper's setting exactly, as the authors' code runs it: CIFAR-100 for Table 1 and
  the figure, CIFAR-10 and CIFAR-100 for Table 2, full-width models. Days of GPU time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .fields import doc


@dataclass(frozen=True)
class OwnerRecipe:
    """How the model owner trains its own networks (normal and nasty teachers), where that differs
    from the students' recipe: its data and schedule. The threat model the paper motivates: the
    owner trained on its full data; an attacker distils with a smaller transfer set."""

    epochs: int = field(metadata=doc("epochs of every teacher (normal and nasty)"))
    milestones: tuple[int, ...] = field(metadata=doc("the teachers' epochs at which the learning rate is "
                                                     "multiplied by gamma"))
    train_per_class: int | None = field(default=None, metadata=doc(
        "training images per class of the teachers (None: the whole training split less the validation split)"))


@dataclass(frozen=True)
class Recipe:
    """How every network of one dataset is trained and distilled, as in the authors' code: one
    recipe drives the teachers, the nasty teachers, the students and their baselines of a dataset
    (SGD with momentum 0.9 and weight decay 5e-4: :class:`stingylib.runs.spec.TrainSpec`'s defaults)."""

    dataset: str = field(metadata=doc("the dataset"))
    epochs: int = field(metadata=doc("epochs of every student (and baseline)"))
    lr: float = field(metadata=doc("SGD learning rate"))
    milestones: tuple[int, ...] = field(metadata=doc("epochs at which the learning rate is multiplied by gamma"))
    gamma: float = field(metadata=doc("learning-rate factor at each milestone"))
    keep: int = field(metadata=doc("N, the classes a stingy teacher keeps (the top-N logits)"))
    temperature: float = field(metadata=doc(
        "KD temperature τ of Table 1: one τ for normal, nasty and stingy teachers alike, as the paper's Table 1 "
        "(unless stingy_temperature is set)"))
    alpha: float = field(metadata=doc("α, the weight of the KD term (1 − α weights the cross-entropy)"))
    nasty_temperature: float = field(metadata=doc("τ_A of nasty-teacher training"))
    nasty_omega: float = field(metadata=doc("ω of nasty-teacher training, the weight of the adversarial KL"))
    stingy_temperature: float | None = field(default=None, metadata=doc(
        "τ from stingy, smooth and reversed teachers (the figure's curves, the attacks) where it differs from "
        "temperature, as the authors' CIFAR-10 code (20 there, 4 from normal and nasty teachers); None: "
        "temperature, the same τ for every teacher"))
    second_temperature: float | None = field(default=None, metadata=doc(
        "a second τ at which the figure's teacher–student pair is also distilled from the normal, nasty and "
        "stingy teacher, to show how much of each effect is the temperature (None: none)"))
    batch_size: int = field(default=128, metadata=doc("images per batch"))
    schedule: str = field(default="step", metadata=doc(
        "learning-rate schedule of every student: step (× gamma at each milestone) or cosine (no milestones)"))
    train_per_class: int | None = field(default=None, metadata=doc(
        "the students' class-balanced transfer set, images per class (None: the whole split)"))
    subset_per_seed: bool = field(default=False, metadata=doc(
        "whether each student seed draws its own transfer set (False: every seed distils on the set drawn "
        "with seed 0); a baseline and the students of the same seed share theirs"))
    test_per_class: int | None = field(default=None, metadata=doc(
        "test images per class (None: the whole test split)"))
    val_per_class: int | None = field(default=None, metadata=doc(
        "images per class held out of the training split to select each run's epoch (None: no validation "
        "split, the paper's protocol: the best epoch on the test split)"))
    augment: bool = field(default=True, metadata=doc(
        "whether the students' batches are augmented (random crop and flip); the owner's teachers always are"))
    test_every_epoch: bool = field(default=True, metadata=doc(
        "whether each student evaluates the test split after every epoch (True: the paper's best-epoch numbers "
        "exist) or only where it reports, after its last epoch and on its weights selected on validation (False: "
        "needs val_per_class; about a quarter less time for a small student). The owner's teachers always do"))
    owner: OwnerRecipe | None = field(default=None, metadata=doc(
        "how the teachers are trained (None: like the students)"))


@dataclass(frozen=True)
class DaflRecipe:
    """Data-free KD with DAFL on one dataset (the DAFL code's recipe): a teacher → a student trained
    on generated images only."""

    teacher: Recipe = field(metadata=doc("how the dataset's teachers (normal, nasty) are trained"))
    epochs: int = field(metadata=doc("DAFL epochs"))
    iterations_per_epoch: int = field(metadata=doc("generator batches per epoch"))
    batch_size: int = field(metadata=doc("generated images per batch"))
    latent_dim: int = field(metadata=doc("size of the generator's latent code"))
    generator_lr: float = field(metadata=doc("the generator's Adam learning rate"))
    lr: float = field(metadata=doc("the student's SGD learning rate"))
    milestones: tuple[int, ...] = field(metadata=doc("epochs at which the student's learning rate is multiplied "
                                                     "by gamma"))
    gamma: float = field(metadata=doc("the student's learning-rate factor at each milestone"))
    one_hot: float = field(metadata=doc("weight of the generator's one-hot loss"))
    info_entropy: float = field(metadata=doc("weight of the generator's information-entropy loss"))
    activation: float = field(metadata=doc("weight of the generator's activation loss"))
    teacher_model: str = field(default="resnet34", metadata=doc("the teacher's architecture"))
    student_model: str = field(default="resnet18", metadata=doc("the student's architecture"))


@dataclass(frozen=True)
class AttackRecipe:
    """The skeptical reader's experiment: students that attack the stingy teacher using only what it
    shows, and the baselines that define "undistillable" (each with its source in
    :mod:`stingylib.attacks`). The teacher is the figure's normal teacher; every attack otherwise
    keeps the stingy recipe (N, τ, α) and the profile's student seeds.

    The grid was fixed before any attack run was trained, on the controls' recipe: nothing here was
    tuned on an attack's result.
    """

    students: tuple[str, ...] = field(default=("resnet18", "mobilenetv2"), metadata=doc(
        "the attacking students: the figure's student first, then a small one"))
    tail_deltas: tuple[float, ...] = field(default=(0.0, 1.0, 2.0, 4.0, 8.0), metadata=doc(
        "tail fill: δ, the hidden logits become min(shown) − δ"))
    smoothing: tuple[float, ...] = field(default=(0.1, 0.5), metadata=doc("ε of the smoothed sparse target"))
    temperatures: tuple[float, ...] = field(default=(1.0, 4.0, 20.0), metadata=doc(
        "τ of the temperature × weight attack on the sparse target"))
    alphas: tuple[float, ...] = field(default=(0.5, 0.9), metadata=doc(
        "α of the temperature × weight attack on the sparse target"))
    standardize_temperatures: tuple[float, ...] = field(default=(1.0, 4.0), metadata=doc(
        "τ of the students that standardise their own logits"))
    clips: tuple[float, ...] = field(default=(100.0, 1000.0), metadata=doc(
        "clipped target: C, the hidden logits become −C"))
    skeptical_exits: tuple[tuple[str, str], ...] = field(
        default=(("resnet18", "stages.1"), ("resnet34", "stages.1"), ("mobilenetv2", "blocks.5"),
                 ("shufflenetv2", "blocks.3")),
        metadata=doc("the Skeptical Student's exit per student architecture (a submodule: the end of an "
                     "early stage)"))
    skeptical_delay: int = field(default=1, metadata=doc(
        "epochs before the Skeptical Student's final head self-distils from its exit"))
    label_smoothing: float = field(default=0.1, metadata=doc("ε of the label-smoothing student with no teacher"))
    label_only_temperature: float = field(default=1.0, metadata=doc(
        "τ of KD from the teacher's top-1 as a one-hot target (at τ = 1: cross-entropy on its labels)"))


@dataclass(frozen=True)
class Profile:
    """Everything the experiments of one profile need."""

    name: str = field(metadata=doc("the profile's name"))
    description: str = field(metadata=doc("what the profile is for"))
    table1: Recipe = field(metadata=doc("the recipe of Table 1, the figure and the attacks"))
    table2: tuple[DaflRecipe, ...] = field(metadata=doc("the DAFL recipes of Table 2, one per dataset"))
    widths: tuple[tuple[str, float], ...] = field(metadata=doc("width multiplier per architecture "
                                                               "(unlisted: 1, the reference width)"))
    teachers: tuple[str, ...] = field(default=("resnet18", "resnet50", "resnext29"), metadata=doc(
        "Table 1's teacher architectures"))
    students: tuple[str, ...] = field(default=("shufflenetv2", "mobilenetv2", "resnet18"), metadata=doc(
        "Table 1's student architectures"))
    figure_teacher: str = field(default="resnet18", metadata=doc("the figure's teacher architecture"))
    figure_student: str = field(default="resnet18", metadata=doc("the figure's student architecture"))
    figure_keeps: tuple[int, ...] = field(default=(), metadata=doc(
        "the N values of the figure's sparse and smooth curves (N = K is normal KD)"))
    figure_smooth_keeps: tuple[int, ...] | None = field(default=None, metadata=doc(
        "the N values of the figure's smooth curve (None: figure_keeps)"))
    seeds: tuple[int, ...] = field(default=(0,), metadata=doc(
        "student seeds of every Table 1 cell, of the figure's N = keep, normal and baseline points, and of "
        "every attack row"))
    sweep_seeds: tuple[int, ...] = field(default=(0,), metadata=doc(
        "student seeds of the figure's other points (the rest of the N sweep, reversed logits)"))
    side_seeds: tuple[int, ...] = field(default=(), metadata=doc(
        "student seeds of the side experiments, a subset of seeds: the figure's second temperature and the "
        "gradient-clipping controls (empty: seeds)"))
    table2_seeds: tuple[int, ...] = field(default=(0,), metadata=doc("DAFL student seeds"))
    teacher_seed: int = field(default=0, metadata=doc(
        "the seed of every teacher: the owner has one network per architecture"))
    teacher_self: bool = field(default=True, metadata=doc(
        "whether Table 1 has a teacher-self column (a student of the teacher's own architecture)"))
    student_widths: tuple[tuple[str, float], ...] = field(default=(), metadata=doc(
        "width of an architecture as a Table 1 / Table 2 student, where it differs from widths (the figure's "
        "student has the teacher's width, as in the paper)"))
    precisions: tuple[tuple[str, str], ...] = field(default=(), metadata=doc(
        "arithmetic of an architecture's runs, fp32 or bf16 autocast (stingylib.fastpath), where it differs "
        "from default_precision; part of every run's identity, whatever machine trains it"))
    default_precision: str = field(default="fp32", metadata=doc("arithmetic of the other architectures' runs"))
    student_precision: str | None = field(default=None, metadata=doc(
        "arithmetic of every run that is not the owner's (students, baselines), whatever its architecture "
        "(None: as precisions)"))
    frozen_precision: str | None = field(default=None, metadata=doc(
        "arithmetic in which every student runs its frozen teacher (None: the precision the teacher was "
        "trained in)"))
    threads: int | None = field(default=None, metadata=doc(
        "torch CPU threads per run unless the caller says otherwise (None: torch's default)"))
    clip_controls: float | None = field(default=None, metadata=doc(
        "the bound on the gradient norm of the clipped-gradient controls: Table 1's stingy students again, with "
        "each step's gradient clipped to it (side seeds), to ask whether a collapse is an optimisation "
        "failure (None: no such controls)"))
    nasty_omegas: tuple[tuple[str, float], ...] = field(default=(), metadata=doc(
        "ω of an architecture's nasty teacher, where it differs from the recipe's (each set by the rule: the "
        "largest ω tried that keeps the nasty teacher within 2 points of its normal teacher on validation)"))
    nasty_precisions: tuple[tuple[str, str], ...] = field(default=(), metadata=doc(
        "arithmetic of an architecture's nasty teacher (and of its adversary's forward passes), where it "
        "differs from the architecture's precision"))
    attacks: AttackRecipe = field(default=AttackRecipe(), metadata=doc("the attack experiment"))
    notes: tuple[str, ...] = field(default=(), metadata=doc("what else a reader should know about the profile"))

    def __post_init__(self) -> None:
        if not set(self.side_seeds) <= set(self.seeds):
            raise ValueError(f"Profile.side_seeds must be a subset of seeds {self.seeds}; got {self.side_seeds}")

    def width(self, model: str, *, student: bool = False) -> float:
        """The width multiplier of ``model`` in this profile (as a student: its student width, when
        the profile sets one)."""
        if student and model in dict(self.student_widths):
            return dict(self.student_widths)[model]
        return dict(self.widths).get(model, 1.0)

    def precision(self, model: str, *, owner: bool = True) -> str:
        """The precision of ``model``'s runs in this profile (``owner=False``: of a student or a baseline)."""
        if not owner and self.student_precision is not None:
            return self.student_precision
        return dict(self.precisions).get(model, self.default_precision)

    @property
    def metric(self) -> str:
        """The record field the tables report by default, the test accuracy at the epoch selected
        on validation when the profile has a validation split, else the paper's best-on-test."""
        return "selected_accuracy" if self.table1.val_per_class is not None else "best_accuracy"


# --- paper: the authors' code's recipes exactly -------------------------------------------------
# Stingy Teacher and Nasty Teacher code: SGD lr 0.1; CIFAR-100 200 epochs, ×0.2 at 60/120/160, τ 20
# for every teacher, nasty τ_A 20 and ω 0.005; CIFAR-10 160 epochs, ×0.1 at 80/120, τ 4 from normal
# and nasty teachers, 20 from stingy ones, nasty τ_A 4 and ω 0.04; α 0.9; N = int(r·K) with r 0.1
# (CIFAR-100) and 0.2 (CIFAR-10). DAFL code: batch 1024, 2000 epochs × 120 iterations, generator Adam
# lr 0.02, student lr 0.1 ×0.1 at 800 and 1600; loss weights one-hot / entropy / activation 0.05 / 5 /
# 0.01 (CIFAR-10) and 0.5 / 20 / 0.1 (CIFAR-100).

CIFAR100 = Recipe(
    dataset="cifar100", epochs=200, lr=0.1, milestones=(60, 120, 160), gamma=0.2, keep=10,
    temperature=20.0, second_temperature=4.0, alpha=0.9, nasty_temperature=20.0, nasty_omega=0.005,
)
CIFAR10 = Recipe(
    dataset="cifar10", epochs=160, lr=0.1, milestones=(80, 120), gamma=0.1, keep=2,
    temperature=4.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.04,
)
_DAFL_PAPER = dict(epochs=2000, iterations_per_epoch=120, batch_size=1024, latent_dim=1000, generator_lr=0.02,
                   lr=0.1, milestones=(800, 1600), gamma=0.1)
DAFL_CIFAR10 = DaflRecipe(teacher=CIFAR10, one_hot=0.05, info_entropy=5.0, activation=0.01, **_DAFL_PAPER)
DAFL_CIFAR100 = DaflRecipe(teacher=CIFAR100, one_hot=0.5, info_entropy=20.0, activation=0.1, **_DAFL_PAPER)

PAPER = Profile(
    name="paper",
    description="The paper's setting: CIFAR-100 (Table 1, figure), CIFAR-10 and CIFAR-100 (Table 2), "
                "full-width models, the recipes of the authors' code. Needs GPUs and days.",
    table1=CIFAR100,
    table2=(DAFL_CIFAR10, DAFL_CIFAR100),
    widths=(),
    figure_keeps=(1, 2, 5, 10, 20, 50, 100),
    # bf16 autocast everywhere, as the engine always did on GPUs: made for Ampere or newer GPUs (older
    # ones, and CPUs without native bf16, emulate it slowly).
    default_precision="bf16",
)

# --- cpu: Fashion-MNIST, a recipe calibrated on the controls -----------------------------------
#
# Calibrated on 2026-11-28 from teachers, baselines and normal-KD students only (never a stingy,
# nasty or attack run): data/calibration/cpu/ keeps the calibration runs, and its README what was
# tried and why. The calibration runs used 8 student epochs; the grid's 5 were set afterwards, for
# budget, before any student of the grid was trained, so the grid's own controls (the book's results
# page) are what the recipe is judged on. The owner trains on its whole training split; the attacker
# distils with a smaller transfer set (1,000 images per class), the threat model the paper motivates.

FASHION = Recipe(
    dataset="fashion-mnist", epochs=5, lr=0.1, milestones=(3, 4), gamma=0.1, keep=2,
    # ω calibrated on the nasty ResNet-18 alone (data/calibration/cpu): the Nasty Teacher's CIFAR-10 ω,
    # 0.04, and 0.1 both kept it within 1.2 points of the normal teacher on validation; the rule fixed
    # beforehand (the largest ω within 2 points) took 0.1.
    temperature=4.0, stingy_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.1,
    train_per_class=1000, val_per_class=300,
    owner=OwnerRecipe(epochs=5, milestones=(3, 4), train_per_class=None),
)

CPU = Profile(
    name="cpu",
    description="Fashion-MNIST: teachers trained on the whole training split less a class-balanced validation split "
                "of 3,000 images (57,000 images, 5 epochs); students distilled with 1,000 images per class (5 epochs); "
                "model selection on the validation split, accuracy on the full 10,000 test images; three student "
                "seeds; width-scaled models; the paper's CIFAR-10 distillation settings.",
    table1=FASHION,
    table2=(DaflRecipe(teacher=FASHION, epochs=5, iterations_per_epoch=30, batch_size=128, latent_dim=1000,
                       generator_lr=0.02, lr=0.1, milestones=(3, 4), gamma=0.1,
                       one_hot=0.05, info_entropy=5.0, activation=0.01),),
    widths=(("resnet18", 0.125), ("resnet34", 0.125), ("resnet50", 0.125), ("resnext29", 0.075),
            ("mobilenetv2", 0.125), ("shufflenetv2", 0.125)),
    figure_keeps=(1, 2, 5),
    seeds=(0, 1, 2),
    sweep_seeds=(0,),
    teacher_seed=0,
    # No teacher-self column: ResNet-18's is the ResNet-18 column (and the figure); ResNet-50 and ResNeXt-29
    # students would cost 2.6x and 5.9x a ResNet-18 student per step (18 runs, over an hour on two cores).
    teacher_self=False,
    precisions=(("resnet18", "bf16"), ("resnet34", "bf16"), ("resnet50", "bf16"), ("resnext29", "bf16")),
    # One thread per run: these models are too small to gain from a second thread, and two OpenMP threads
    # on a busy 2-core machine ran 10-100x slower than one (measured here); run two jobs instead.
    threads=1,
    notes=("Every teacher has more parameters than every student it teaches: ResNet-50 at 1/8 (376k) and "
           "ResNeXt-29 at 0.075 (199k) against the ResNet-18 student at 1/8 (176k).",
           "bf16 for the ResNets and ResNeXt, where it trains 1.7-2.6x faster on this CPU "
           "(benchmarks/results/fast_path.md); fp32 for ShuffleNetV2 and MobileNetV2, where it is not faster.",),
)

# --- smoke: digits, three epochs ----------------------------------------------------------------

DIGITS = Recipe(
    dataset="digits", epochs=2, lr=0.05, milestones=(), schedule="cosine", subset_per_seed=True, test_every_epoch=False,
    gamma=0.1, keep=2,
    temperature=4.0, second_temperature=20.0, alpha=0.9, nasty_temperature=4.0, nasty_omega=0.04,
    batch_size=100, train_per_class=100, test_per_class=40, val_per_class=20,
    owner=OwnerRecipe(epochs=3, milestones=(2,), train_per_class=None),
)

SMOKE = Profile(
    name="smoke",
    description="scikit-learn's digits (1,000 train / 200 validation / 400 test images of 8x8 pixels; the teachers "
                "train on all 1,147 non-validation images), tiny widths, three epochs, two student seeds: proves "
                "the pipeline end to end in minutes, not the science.",
    table1=DIGITS,
    table2=(DaflRecipe(teacher=DIGITS, epochs=2, iterations_per_epoch=5, batch_size=64, latent_dim=64,
                       generator_lr=0.02, lr=0.05, milestones=(1,), gamma=0.1,
                       one_hot=0.05, info_entropy=5.0, activation=0.01),),
    widths=tuple((m, 0.125) for m in ("resnet18", "resnet34", "resnet50", "resnext29", "mobilenetv2",
                                        "shufflenetv2")),
    figure_keeps=(1, 2, 5),
    seeds=(0, 1),
    side_seeds=(0,),
    clip_controls=5.0,
    threads=1,
    attacks=AttackRecipe(tail_deltas=(0.0, 4.0), smoothing=(0.1,), temperatures=(1.0, 20.0), alphas=(0.9,),
                         standardize_temperatures=(4.0,), clips=(100.0,)),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, CPU, PAPER)}


def get_profile(profile: str | Profile) -> Profile:
    """The profile called ``profile`` (``smoke``, ``cpu`` or ``paper``); a :class:`Profile` is
    returned as it is."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}; got {profile!r}")
    return PROFILES[profile]


# --- the profile as one flat table ----------------------------------------------------------------


def _is_mapping(value: Any) -> bool:
    """A tuple of (name, value) pairs, the frozen form of a small mapping (e.g. ``widths``)."""
    return (isinstance(value, tuple) and bool(value)
            and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value))


def profile_numbers(profile: str | Profile) -> dict[str, tuple[Any, str]]:
    """Every setting of a profile, flattened from its dataclasses, in declaration order: dotted name →
    (value, what it means). Nested recipes become ``table1.epochs``, ``table1.owner.epochs`` or
    ``table2[0].lr``; name–value pairs become ``widths.resnet18``; a recipe that repeats one listed
    before (Table 2's teacher recipe is Table 1's) is given by that one's name.

    The book renders this table (:func:`stingylib.paper.profile_table`), so what it says a profile
    does is what the profile holds.
    """
    profile = get_profile(profile)
    out: dict[str, tuple[Any, str]] = {}
    seen: dict[Any, str] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            name, value, meaning = f"{prefix}{f.name}", getattr(obj, f.name), f.metadata.get("doc", "")
            if dataclasses.is_dataclass(value):
                if value in seen:
                    out[name] = (seen[value], meaning)
                else:
                    seen[value] = name
                    walk(value, name + ".")
            elif isinstance(value, tuple) and value and all(dataclasses.is_dataclass(v) for v in value):
                for i, item in enumerate(value):
                    seen.setdefault(item, f"{name}[{i}]")
                    walk(item, f"{name}[{i}].")
            elif _is_mapping(value):
                for key, item in value:
                    out[f"{name}.{key}"] = (item, meaning)
            else:
                out[name] = (value, meaning)

    walk(profile, "")
    return out
