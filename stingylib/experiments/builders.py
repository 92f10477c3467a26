"""Run builders: the configs of the runs the experiments are made of, from a profile's recipes.

A run shared by several experiments (a normal teacher, a baseline, a normal-KD student) is built by
the same call with the same arguments, so it has one config, one id, and exists once. The model
owner has one network per architecture (:func:`teacher_runs`): a normal teacher, a nasty teacher
trained against it, and the stingy teacher, which *is* the normal teacher's run seen through
``stingy_sparse`` (never retrained).
"""

from __future__ import annotations

from ..data import DATASETS
from ..methods import DAFL, KD, Nasty, Supervised
from ..profiles import DaflRecipe, Profile, Recipe
from ..runs import RunConfig

#: The teacher variants of the paper's tables, in their order.
VARIANTS = ("normal", "nasty", "stingy")


def common_fields(profile: Profile, recipe: Recipe, model: str, seed: int, *, owner: bool = False,
                  student: bool = False) -> dict:
    """The fields every run of ``recipe`` shares; ``owner``: a run of the model owner (a teacher), which
    follows the recipe's owner schedule and data when it has one; ``student``: a Table 1 / Table 2
    student (or its baseline), at the profile's student width of ``model``."""
    out = dict(model=model, dataset=recipe.dataset, width=profile.width(model, student=student), seed=seed,
               epochs=recipe.epochs,
               lr=recipe.lr, milestones=recipe.milestones, gamma=recipe.gamma, schedule=recipe.schedule,
               batch_size=recipe.batch_size, train_per_class=recipe.train_per_class,
               subset_seed=seed if recipe.subset_per_seed else 0, test_per_class=recipe.test_per_class,
               val_per_class=recipe.val_per_class, precision=profile.precision(model, owner=owner),
               frozen_precision=None if owner else profile.frozen_precision,
               test_every_epoch=owner or recipe.test_every_epoch, augment=owner or recipe.augment)
    if owner and recipe.owner is not None:
        # the owner's own schedule (always the step schedule of the authors' code) and data
        out.update(epochs=recipe.owner.epochs, milestones=recipe.owner.milestones, schedule="step",
                   train_per_class=recipe.owner.train_per_class, subset_seed=0)
    return out


def supervised_run(profile: Profile, recipe: Recipe, model: str, seed: int, *, owner: bool = False,
                   student: bool = False, label_smoothing: float = 0.0) -> RunConfig:
    """A network trained on the labels alone: a student's baseline (``student``: at the profile's
    student width), with ``label_smoothing`` the label-smoothing student, or, with ``owner``, a
    normal teacher."""
    return RunConfig(method=Supervised(label_smoothing=label_smoothing),
                     **common_fields(profile, recipe, model, seed, owner=owner, student=student))


def nasty_run(profile: Profile, recipe: Recipe, model: str) -> RunConfig:
    """A nasty teacher trained against the normal teacher of the same architecture (the owner's runs)."""
    seed = profile.teacher_seed
    adversary = supervised_run(profile, recipe, model, seed, owner=True)
    omega = dict(profile.nasty_omegas).get(model, recipe.nasty_omega)
    nasty = Nasty(adversary=adversary.run_id, temperature=recipe.nasty_temperature, omega=omega)
    fields = common_fields(profile, recipe, model, seed, owner=True)
    if model in dict(profile.nasty_precisions):
        precision = dict(profile.nasty_precisions)[model]
        fields.update(precision=precision, frozen_precision=precision)
    return RunConfig(method=nasty, **fields)


def teacher_runs(profile: Profile, recipe: Recipe, model: str) -> dict[str, RunConfig]:
    """The run behind each teacher variant of ``model`` (the stingy teacher *is* the normal run): one
    model per architecture, of seed ``profile.teacher_seed``, trained by the owner's recipe."""
    normal = supervised_run(profile, recipe, model, profile.teacher_seed, owner=True)
    return {"normal": normal, "nasty": nasty_run(profile, recipe, model), "stingy": normal}


def stingy_temperature(recipe: Recipe) -> float:
    """The τ a student of ``recipe`` distils at from a stingy (sparse, smooth) or reversed teacher: the
    recipe's ``stingy_temperature`` when it has one (the authors' CIFAR-10 code), else its one τ."""
    return recipe.temperature if recipe.stingy_temperature is None else recipe.stingy_temperature


def teacher_setting(recipe: Recipe, variant: str, temperature: float | None = None) -> dict:
    """How a student of ``recipe`` distils from a teacher variant: the transform it is shown, N and
    the KD temperature (stingy: ``stingy_sparse`` with the recipe's N, at :func:`stingy_temperature`;
    normal and nasty: the teacher as it is, at the recipe's τ), or all at ``temperature`` when given."""
    if variant == "stingy":
        tau = stingy_temperature(recipe) if temperature is None else temperature
        return dict(transform="stingy_sparse", keep=recipe.keep, temperature=tau)
    return dict(transform="normal", keep=None, temperature=recipe.temperature if temperature is None else temperature)


def kd_run(profile: Profile, recipe: Recipe, student: str, teacher: RunConfig, seed: int, *, transform: str,
           keep: int | None, temperature: float, table_student: bool = True, **options: object) -> RunConfig:
    """A student distilled from ``teacher`` seen through ``transform`` (``table_student``: at the
    profile's student width; False: at the model's width, as the figure's and teacher-self students).
    ``options``: further :class:`~stingylib.methods.kd.KD` parameters (``alpha`` defaults to the
    recipe's; an attack, logit standardisation)."""
    num_classes = DATASETS[recipe.dataset].num_classes
    if keep == num_classes:  # top-K of K classes is the normal teacher (at the same temperature)
        transform, keep = "normal", None
    options.setdefault("alpha", recipe.alpha)
    kd = KD(teacher=teacher.run_id, transform=transform, keep=keep, temperature=temperature, **options)
    return RunConfig(method=kd, **common_fields(profile, recipe, student, seed, student=table_student))


def dafl_run(profile: Profile, dafl: DaflRecipe, teacher: RunConfig, variant: str, seed: int) -> RunConfig:
    """A DAFL student of a teacher variant (the stingy view applies to every teacher logit output)."""
    base = common_fields(profile, dafl.teacher, dafl.student_model, seed, student=True)
    base.update(epochs=dafl.epochs, lr=dafl.lr, milestones=dafl.milestones, gamma=dafl.gamma, schedule="step",
                batch_size=dafl.batch_size)
    shown = teacher_setting(dafl.teacher, variant)
    method = DAFL(teacher=teacher.run_id, transform=shown["transform"], keep=shown["keep"],
                  latent_dim=dafl.latent_dim, iterations_per_epoch=dafl.iterations_per_epoch,
                  generator_lr=dafl.generator_lr, one_hot=dafl.one_hot, info_entropy=dafl.info_entropy,
                  activation=dafl.activation)
    return RunConfig(method=method, **base)
