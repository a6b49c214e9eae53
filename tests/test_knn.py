"""`methods/_knn.py`: the faiss index gives the distances and neighbours that a brute-force torch
search gives, and the official PatchCore coreset keeps its size, picks every cluster of a
clustered bank and is reproducible from the seed."""
from __future__ import annotations

import pytest
import torch

from methods._knn import BankIndex, approximate_greedy_coreset


def _bank_and_queries(seed: int, n: int = 3000, m: int = 500, dim: int = 96):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.randn(m, dim, generator=g)


@pytest.mark.parametrize("k", [1, 3])
def test_faiss_gives_the_brute_force_neighbours(k):
    bank, queries = _bank_and_queries(0)
    distances, idx = BankIndex(bank).search(queries, k)
    exact = torch.cdist(queries.double(), bank.double()).topk(k, largest=False)
    assert distances.shape == idx.shape == (len(queries), k) and distances.dtype == torch.float32
    torch.testing.assert_close(distances.double(), exact.values, rtol=1e-5, atol=1e-5)
    assert (idx == exact.indices).float().mean() > 0.999  # all but float32 near-ties
    assert torch.all(distances[:, 1:] >= distances[:, :-1])  # ascending


def test_a_query_in_the_bank_finds_itself_at_distance_zero():
    bank, _ = _bank_and_queries(1, n=200)
    distances, idx = BankIndex(bank).search(bank[:50], 1)
    assert torch.equal(idx[:, 0], torch.arange(50))
    assert distances.max() < 1e-3


def test_more_neighbours_than_entries_is_refused():
    with pytest.raises(ValueError, match="3 nearest neighbours asked of a bank of 2 entries"):
        BankIndex(torch.zeros(2, 4)).search(torch.zeros(1, 4), 3)


def test_patchcore_and_m3dm_search_through_faiss():
    """PatchCore's anomalib model and M3DM's bank answer through the same index as the brute
    force (the numbers of before within float tolerance)."""
    from methods.m3dm import MemoryBank
    from methods.patchcore import HPARAMS, _patchcore_model_class

    bank, queries = _bank_and_queries(2, n=400, m=64, dim=32)
    model = _patchcore_model_class()(HPARAMS.used, backbone="resnet18", pre_trained=False)
    model.embedding_store.append(bank)
    torch.manual_seed(0)
    model.subsample_embedding(0.25)
    assert model.memory_bank.shape == (100, 32)
    scores, locations = model.nearest_neighbors(queries, 1)
    exact = torch.cdist(queries, model.memory_bank).min(1)
    torch.testing.assert_close(scores, exact.values, rtol=1e-4, atol=1e-4)
    assert torch.equal(locations, exact.indices)

    m3dm = MemoryBank(bank, ratio=0.25, reweight_neighbors=3, device="cpu")
    weld_scores, dist = m3dm.score(queries.reshape(8, 8, 32))
    z = (queries - m3dm.mean) / m3dm.std
    torch.testing.assert_close(dist.reshape(-1), torch.cdist(z, m3dm.entries).min(1).values,
                               rtol=1e-4, atol=1e-4)
    assert weld_scores.shape == (8,) and torch.isfinite(weld_scores).all()


def test_the_coreset_picks_one_entry_per_cluster():
    """Greedy k-centre on four tight clusters far apart: four picks, one in each."""
    g = torch.Generator().manual_seed(3)
    centres = torch.randn(4, 256, generator=g) * 50
    bank = (centres[:, None, :] + torch.randn(4, 60, 256, generator=g)).reshape(240, 256)
    torch.manual_seed(0)
    picks = approximate_greedy_coreset(bank, ratio=4 / 240)
    assert len(picks) == 4 and sorted((picks // 60).tolist()) == [0, 1, 2, 3]


def test_the_coreset_has_the_official_size_and_follows_the_seed():
    bank, _ = _bank_and_queries(4, n=1000, dim=200)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(approximate_greedy_coreset(bank, ratio=0.1))
    assert len(runs[0]) == 100 and len(set(runs[0].tolist())) == 100  # int(N x ratio), no repeats
    assert torch.equal(runs[0], runs[1])
    torch.manual_seed(8)
    assert not torch.equal(runs[0], approximate_greedy_coreset(bank, ratio=0.1))


def test_the_coreset_is_the_greedy_k_centre_of_the_projected_bank():
    """Without projection (the bank already 128-d, as the official sampler skips it), each pick
    is the entry farthest from the picks so far, the first distances being the mean over the
    random starts: checked against a direct computation."""
    bank, _ = _bank_and_queries(5, n=300, dim=128)
    torch.manual_seed(11)
    picks = approximate_greedy_coreset(bank, ratio=0.05)
    torch.manual_seed(11)
    starts = torch.randperm(300)[:10]
    covered = torch.cdist(bank, bank[starts]).mean(1)
    for pick in picks.tolist():
        assert pick == int(covered.argmax())
        covered = torch.minimum(covered, torch.cdist(bank, bank[pick:pick + 1])[:, 0])


def test_the_m3dm_coreset_starts_from_the_first_entry_and_picks_every_cluster():
    """The official M3DM sampler: n entries, the first one first, then one per remaining cluster
    (greedy k-centre on a sparse random projection); a single entry is kept unprojected."""
    from methods._knn import projected_greedy_coreset

    g = torch.Generator().manual_seed(6)
    centres = torch.randn(5, 300, generator=g) * 40
    bank = (centres[:, None, :] + torch.randn(5, 40, 300, generator=g)).reshape(200, 300)
    picks = projected_greedy_coreset(bank, 5)
    assert picks[0] == 0 and sorted((picks // 40).tolist()) == [0, 1, 2, 3, 4]
    assert projected_greedy_coreset(bank[:1], 1).tolist() == [0]
