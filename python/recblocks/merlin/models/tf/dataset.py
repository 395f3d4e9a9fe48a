"""merlin.models.tf.dataset: BatchedDataset yields (features, targets) batches."""

from __future__ import annotations

import recblocks as rb


class BatchedDataset:
    """`next(iter(BatchedDataset(valid, batch_size=4, shuffle=False)))[0]` is the
    first batch's features (a recblocks.Batch: `.keys()`, `batch["userId"]`),
    [1] its targets."""

    def __init__(self, dataset, batch_size: int = 1024, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, **_unused):
        """Batches of `batch_size` rows of the Dataset `dataset`, shuffled by `seed` when
        `shuffle`, the short last batch left out with `drop_last` (a recblocks.Loader);
        Merlin's other keywords are ignored."""
        self.loader = rb.Loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                drop_last=drop_last)

    def __len__(self) -> int:
        """The number of batches in an epoch."""
        return len(self.loader)

    def __iter__(self):
        """One epoch: (features, targets) per batch, each a recblocks.Batch."""
        for batch in self.loader:
            yield batch.features(), batch.targets()


def sample_batch(data, batch_size: int = 32, shuffle: bool = True, include_targets: bool = True,
                 to_ragged: bool = False, seed: int = 0, **_unused):
    """mm.sample_batch: the first batch of `batch_size` rows of the Dataset `data` (shuffled by
    `seed` when `shuffle`): (features, targets) as recblocks.Batch objects, or the features
    alone without `include_targets`. `to_ragged` is accepted and ignored."""
    features, targets = next(iter(BatchedDataset(data, batch_size=batch_size, shuffle=shuffle,
                                                 seed=seed)))
    return (features, targets) if include_targets else features
