"""Memory banks at Weld-4M's size: exact nearest neighbours through faiss, and the originals'
coresets.

* `BankIndex`: every query's k nearest bank rows by Euclidean distance, from a flat faiss index (every
  distance computed, nothing approximated; the official PatchCore scores through the same index
  type). faiss-gpu where it is installed and CUDA is present, faiss-cpu otherwise. The bank is
  searched in float32, as anomalib's and torch's distance code do, and the neighbours' distances
  are computed again directly (no cancellation error, the same whatever the batch).
* `approximate_greedy_coreset`: the official PatchCore sampler (`approx_greedy_coreset` of
  patchcore-inspection's `sampler.py`, read for its facts): the bank projected to 128 values by a
  random bias-free linear map (torch's default uniform initialisation), every entry's starting
  distance the mean of its distances to 10 random entries, then greedy k-centre selection of
  int(ratio x N) entries on the projected bank; the chosen entries are kept unprojected. Memory
  is linear in N (no N x N matrix), so it runs on the device for Weld-4M's 2.26 M patches.
* `projected_greedy_coreset`: the official M3DM sampler (`get_coreset_idx_randomp`): the bank
  projected by scikit-learn's `SparseRandomProjection(eps=0.9)`, greedy k-centre selection of n
  entries starting from the first entry (float32 here; the original casts to float16 on a GPU);
  a bank too small to project is used as it is, as there.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

# NOTE: faiss's loader logs at INFO which of its builds it tried (AVX512, AVX2, generic); not a
# fact of any result, and it cut into the unit progress bar
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

CORESET_STARTS = 10  # official number_of_starting_points
CORESET_DIM = 128  # official dimension_to_project_features_to


class BankIndex:
    """An exact faiss index over the rows of a bank (N, D), built once and searched per batch."""

    def __init__(self, bank: torch.Tensor):
        import faiss

        faiss.omp_set_num_threads(torch.get_num_threads())  # NOTE: the runner's thread budget per unit
        self.bank, self.device = bank, bank.device
        self.index = faiss.IndexFlatL2(bank.shape[1])
        if torch.cuda.is_available() and hasattr(faiss, "StandardGpuResources"):
            self.index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), torch.cuda.current_device(),
                                                self.index)
        self.index.add(_float32(bank))

    def search(self, queries: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(distances (n, k) ascending, bank indices (n, k)) of each query's k nearest rows,
        Euclidean, on the bank's device."""
        if k > len(self.bank):
            raise ValueError(f"{k} nearest neighbours asked of a bank of {len(self.bank)} entries")
        _, idx = self.index.search(_float32(queries), k)
        idx = torch.from_numpy(idx).to(self.device)
        # NOTE: faiss ranks through ||q||^2 + ||b||^2 - 2 q.b, whose rounding depends on the batch
        # (BLAS blocks); the found neighbours' distances are taken again directly, so that a
        # query's score does not depend on the other queries of its batch
        distances = (queries.to(self.device).float()[:, None, :] - self.bank.float()[idx]).norm(dim=-1)
        return distances, idx


def _float32(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().float().cpu().numpy())


@torch.no_grad()
def approximate_greedy_coreset(bank: torch.Tensor, ratio: float, starts: int = CORESET_STARTS,
                               dim: int = CORESET_DIM) -> torch.Tensor:
    """Indices of int(ratio x N) entries of `bank` (N, D) chosen as the official PatchCore does
    (module docstring). Random draws from torch's generator, which the runner seeds."""
    n, width = bank.shape
    bank = bank.float()
    if width != dim:  # official: projected unless the bank already has `dim` values
        bound = 1 / math.sqrt(width)  # torch.nn.Linear's default initialisation
        projection = torch.empty(width, dim, device=bank.device).uniform_(-bound, bound)
        bank = bank @ projection
    first = torch.randperm(n, device=bank.device)[:min(starts, n)]
    return _greedy(bank, torch.cdist(bank, bank[first]).mean(1), int(n * ratio), [])


@torch.no_grad()
def projected_greedy_coreset(bank: torch.Tensor, n: int, eps: float = 0.9) -> torch.Tensor:
    """Indices of n entries of `bank` (N, D) chosen as the official M3DM does (module docstring).
    The projection draws from numpy's global generator, which the runner seeds."""
    from sklearn.random_projection import SparseRandomProjection

    z = bank.float()
    try:
        z = torch.from_numpy(SparseRandomProjection(eps=eps).fit_transform(z.cpu().numpy())).float().to(bank.device)
    except ValueError:  # NOTE: too few entries for a projection (JL dimension 0): unprojected, as the original
        pass
    return _greedy(z, (z - z[0]).norm(dim=1), min(n, len(z)) - 1, [0])


def _greedy(z: torch.Tensor, distance: torch.Tensor, count: int, chosen: list[int]) -> torch.Tensor:
    """Greedy k-centre: `count` times, the entry of `z` (N, d) farthest from those chosen so far
    (`distance`: each entry's current distance) is chosen. Distances to it through the norms and
    one matrix-vector product (as the official PatchCore computes them), not an (N, d) difference:
    the loop runs 10^3-10^5 times."""
    squared = (z * z).sum(1)
    for _ in range(count):
        pick = int(distance.argmax())
        chosen.append(pick)
        to_pick = (squared + squared[pick] - 2 * (z @ z[pick])).clamp_min(0).sqrt()
        distance = torch.minimum(distance, to_pick)
    return torch.tensor(chosen, dtype=torch.long, device=z.device)
