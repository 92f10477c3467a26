"""Behaviour of the teacher output transforms (stingylib.transforms)."""

from __future__ import annotations

import pytest
import torch

from stingylib import TRANSFORMS, get_transform, normal, reversed_logits, stingy_smooth, stingy_sparse, uniform_topn

B, K = 64, 10


@pytest.fixture
def logits() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, K, generator=g, dtype=torch.float64) * 3  # distinct values a.s.


def topn_sets(z: torch.Tensor, n: int) -> list[set[int]]:
    return [set(row.argsort(descending=True)[:n].tolist()) for row in z]


@pytest.mark.parametrize("n", [1, 2, 5, K - 1])
def test_stingy_sparse_keeps_exactly_topn_in_place(logits, n):
    out = stingy_sparse(logits, n)
    kept = torch.isfinite(out)
    assert kept.sum(dim=1).tolist() == [n] * B
    for row, row_out, top in zip(logits, out, topn_sets(logits, n)):
        assert set(torch.nonzero(torch.isfinite(row_out)).flatten().tolist()) == top
        assert torch.equal(row_out[list(top)], row[list(top)])  # kept values unchanged, in place
    assert torch.all(out[~kept] == float("-inf"))


def test_stingy_sparse_softmax_has_exact_zeros_and_sums_to_one(logits):
    p = torch.softmax(stingy_sparse(logits, 3), dim=1)
    assert torch.allclose(p.sum(dim=1), torch.ones(B, dtype=p.dtype))
    assert (p == 0).sum(dim=1).tolist() == [K - 3] * B
    # softmax of the sparse logits equals the softmax restricted to the top-3 classes
    idx = logits.topk(3, dim=1).indices
    restricted = torch.softmax(logits.gather(1, idx), dim=1)
    assert torch.allclose(p.gather(1, idx), restricted)


def test_temperature_commutes_with_sparse_masking(logits):
    tau = 20.0
    assert torch.equal(torch.isfinite(stingy_sparse(logits, 4) / tau), torch.isfinite(stingy_sparse(logits / tau, 4)))


@pytest.mark.parametrize("fn", [stingy_sparse, stingy_smooth])
def test_n_equals_k_is_the_normal_teacher(logits, fn):
    assert torch.equal(fn(logits, K), logits)


@pytest.mark.parametrize(
    "name,n", [("normal", None), ("stingy_sparse", 1), ("stingy_sparse", 4), ("stingy_smooth", 1),
               ("stingy_smooth", 4), ("reversed", None)]
)
def test_every_transform_keeps_the_argmax(logits, name, n):
    out = get_transform(name, n)(logits)
    assert torch.equal(out.argmax(dim=1), logits.argmax(dim=1))


def test_uniform_topn_is_uniform_over_the_topn(logits):
    out = uniform_topn(logits, 4)
    p = torch.softmax(out, dim=1)
    # Top-1 is tied with the other kept classes, so the argmax is only guaranteed to be in the support.
    assert torch.all(p.gather(1, logits.argmax(dim=1, keepdim=True)) == 0.25)
    assert torch.allclose(p[p > 0], torch.full_like(p[p > 0], 0.25))
    assert (p > 0).sum(dim=1).tolist() == [4] * B


def test_reversed_is_a_permutation_with_rank2_getting_the_minimum(logits):
    out = reversed_logits(logits)
    assert torch.equal(out.sort(dim=1).values, logits.sort(dim=1).values)  # same multiset per row
    order = logits.argsort(dim=1, descending=True)  # class of rank 1, 2, …, K
    rank2 = order[:, 1]
    last = order[:, -1]
    assert torch.equal(out.gather(1, rank2[:, None]).squeeze(1), logits.min(dim=1).values)
    assert torch.equal(out.gather(1, last[:, None]).squeeze(1), logits.gather(1, order[:, 1:2]).squeeze(1))
    # rank k (1-based, k >= 2) gets the value of rank K + 2 - k
    sorted_vals = logits.gather(1, order)
    for k in range(2, K + 1):
        assert torch.equal(out.gather(1, order[:, k - 1 : k]), sorted_vals[:, K + 1 - k : K + 2 - k])


def test_reversed_by_hand():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.5]])
    assert reversed_logits(z).tolist() == [[3.0, 1.0, 0.5, 2.0]]


@pytest.mark.parametrize("n", [1, 3, 7])
def test_stingy_smooth_tail_is_one_value_equal_to_the_tail_mean(logits, n):
    out = stingy_smooth(logits, n)
    for row, row_out, top in zip(logits, out, topn_sets(logits, n)):
        tail = [k for k in range(K) if k not in top]
        assert torch.equal(row_out[list(top)], row[list(top)])
        assert torch.allclose(row_out[tail], row[tail].mean().expand(len(tail)))
        assert len(set(row_out[tail].tolist())) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("name,n", [("stingy_sparse", 3), ("stingy_smooth", 3), ("reversed", None), ("uniform_topn", 3)])
def test_dtypes_are_preserved(logits, dtype, name, n):
    out = get_transform(name, n)(logits.to(dtype))
    assert out.dtype == dtype and out.shape == (B, K)


def test_registry_names():
    assert set(TRANSFORMS) == {"normal", "stingy_sparse", "stingy_smooth", "reversed", "uniform_topn",
                               "truncated_topn"}
    assert get_transform("normal") is normal


@pytest.mark.parametrize("fn", [stingy_sparse, stingy_smooth, uniform_topn])
@pytest.mark.parametrize("bad_n", [0, -1, K + 1])
def test_out_of_range_n_raises(logits, fn, bad_n):
    with pytest.raises(ValueError, match=r"n must be in \[1, 10\]"):
        fn(logits, bad_n)


@pytest.mark.parametrize("bad_n", [2.0, 0.29 * 100, True, "3", None])
def test_non_integer_n_raises(logits, bad_n):
    with pytest.raises(ValueError, match="n must be an integer"):
        stingy_sparse(logits, bad_n)


@pytest.mark.parametrize("fn", [normal, reversed_logits, lambda z: stingy_sparse(z, 1)])
def test_logits_must_be_2d(fn):
    with pytest.raises(ValueError, match="logits must be 2-D"):
        fn(torch.zeros(3))
    with pytest.raises(ValueError, match="logits must be 2-D"):
        fn(torch.zeros(2, 3, 4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_posinf_raise(logits, bad):
    logits[0, 0] = bad
    with pytest.raises(ValueError, match=r"logits contains NaN or \+inf"):
        stingy_sparse(logits, 2)


def test_neginf_input_is_allowed(logits):
    # A transformed output may be transformed again (e.g. a smooth view of an already-sparse teacher).
    assert torch.isfinite(stingy_sparse(stingy_sparse(logits, 5), 2)).sum() == 2 * B


def test_get_transform_errors():
    with pytest.raises(ValueError, match="transform must be one of"):
        get_transform("stingy")
    with pytest.raises(ValueError, match="n is required"):
        get_transform("stingy_sparse")
    with pytest.raises(ValueError, match="n must be None"):
        get_transform("reversed", 3)
    with pytest.raises(ValueError, match="n must be in"):
        get_transform("stingy_sparse", 0)
