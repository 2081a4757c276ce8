"""SyncNet (Chung & Zisserman, "Out of time: automated lip sync in the wild", ACCV-W 2016).

The module tree mirrors ``SyncNetModel.S`` of joonson/syncnet_python (``netcnnaud``,
``netfcaud``, ``netcnnlip``, ``netfclip``; same layer order and indices) so that its
``syncnet_v2.model`` state dict loads with ``strict=True``.

Inputs, as in that repository's ``SyncNetInstance.evaluate``:

* audio: (N, 1, 13, 20) MFCC, 13 coefficients x 20 frames at 100 Hz (0.2 s = 5 video
  frames at 25 fps);
* lip: (N, 3, 5, 224, 224) five consecutive 224x224 face crops, BGR channel order, raw
  0..255 pixel values (no mean/std normalisation).

Both streams map to a 1024-d embedding; the Euclidean distance between the two says
how well the audio window matches the five frames.
"""

from __future__ import annotations

import torch
from torch import nn

#: Embedding width of syncnet_v2.
EMBED_DIM: int = 1024
#: Video frames per window and MFCC frames per window (100 Hz / 25 fps * 5).
WINDOW_FRAMES: int = 5
MFCC_PER_FRAME: int = 4
MFCC_WINDOW: int = WINDOW_FRAMES * MFCC_PER_FRAME
N_MFCC: int = 13
#: Side of the square face crop the lip stream expects (pixels).
CROP_SIZE: int = 224


def _bn_relu2(ch: int, inplace: bool = True) -> list[nn.Module]:
    return [nn.BatchNorm2d(ch), nn.ReLU(inplace=inplace)]


def _bn_relu3(ch: int) -> list[nn.Module]:
    return [nn.BatchNorm3d(ch), nn.ReLU(inplace=True)]


class SyncNet(nn.Module):
    """Two-stream SyncNet; ``forward_aud`` / ``forward_lip`` give (N, 1024) embeddings."""

    def __init__(self, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            *_bn_relu2(64),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            nn.Conv2d(64, 192, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            *_bn_relu2(192),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            nn.Conv2d(192, 384, kernel_size=(3, 3), padding=(1, 1)),
            *_bn_relu2(384),
            nn.Conv2d(384, 256, kernel_size=(3, 3), padding=(1, 1)),
            *_bn_relu2(256),
            nn.Conv2d(256, 256, kernel_size=(3, 3), padding=(1, 1)),
            *_bn_relu2(256),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            nn.Conv2d(256, 512, kernel_size=(5, 4), padding=(0, 0)),
            *_bn_relu2(512, inplace=False),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Linear(512, embed_dim),
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Linear(512, embed_dim),
        )
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            *_bn_relu3(96),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_bn_relu3(256),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_bn_relu3(256),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_bn_relu3(256),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_bn_relu3(256),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(256, 512, kernel_size=(1, 6, 6), padding=0),
            *_bn_relu3(512),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 13, 20) MFCC windows -> (N, embed_dim)."""
        mid = self.netcnnaud(x)
        return self.netfcaud(mid.reshape(mid.shape[0], -1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 5, 224, 224) BGR 0..255 face-crop windows -> (N, embed_dim)."""
        mid = self.netcnnlip(x)
        return self.netfclip(mid.reshape(mid.shape[0], -1))

    def forward(self, aud: torch.Tensor, lip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_aud(aud), self.forward_lip(lip)
