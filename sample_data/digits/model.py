"""The small CNN of the bundled digits sample project.

Input: float32 tensor ``(N, 1, 8, 8)`` with values in [0, 1] (the app's default image transform
of the ``pixels`` column). Output: logits ``(N, num_classes)``. The embedding is the output of
``head.2`` (the ReLU after the first linear layer), which is also the input of the last linear
layer.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two 3x3 convolutions, one max-pool, and a two-layer head.

    Args:
        num_classes: Number of output classes.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(N, num_classes)`` for images ``(N, 1, 8, 8)`` in [0, 1]."""
        return self.head(self.features(x))
