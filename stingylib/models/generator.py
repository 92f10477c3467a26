"""DAFL image generator, following the generator of Chen et al. (2019), "Data-Free Learning of Student Networks".

z (B, latent) → Linear → (B, 128, s, s) with s = img_size // 4 → BN → [upsample ×2 → conv 3×3 →
BN(eps 0.8) → LeakyReLU(0.2)] ×2 (128 then 64 channels) → conv 3×3 to ``channels`` → tanh →
BN(affine=False). The last BN standardises each output channel over the batch in train mode.

When img_size is not a multiple of 4 (e.g. 30: 4·7 = 28), the 64-channel feature map is resized
bilinearly to img_size × img_size right *before* the last conv, so the output is exactly img_size
and the final tanh + BN are still the last operations (the standardisation property is kept).
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import check_int


class Generator(nn.Module):
    """Map latent codes (B, latent_dim) to images (B, channels, img_size, img_size)."""

    def __init__(self, latent_dim: int = 1000, img_size: int = 32, channels: int = 3) -> None:
        super().__init__()
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self.img_size = check_int(img_size, "img_size", 4)
        self.channels = check_int(channels, "channels", 1)
        self.init_size = img_size // 4
        self.fc = nn.Linear(latent_dim, 128 * self.init_size**2)
        self.bn0 = nn.BatchNorm2d(128)
        self.up1 = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, padding=1),
            nn.BatchNorm2d(128, eps=0.8),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.up2 = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, padding=1),
            nn.BatchNorm2d(64, eps=0.8),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.out = nn.Sequential(
            nn.Conv2d(64, channels, 3, padding=1),
            nn.Tanh(),
            nn.BatchNorm2d(channels, affine=False),
        )

    def forward(self, z: Tensor) -> Tensor:
        """Generate a batch of images from latent codes z (B, latent_dim)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}); got {tuple(z.shape)}")
        x = self.fc(z).view(z.shape[0], 128, self.init_size, self.init_size)  # (B, 128, s, s)
        x = self.bn0(x)
        x = self.up1(x)  # (B, 128, 2s, 2s)
        x = self.up2(x)  # (B, 64, 4s, 4s)
        if x.shape[-1] != self.img_size:
            x = nn.functional.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear",
                                          align_corners=False)  # (B, 64, img_size, img_size)
        return self.out(x)  # (B, channels, img_size, img_size)


def build_generator(*, latent_dim: int = 1000, img_size: int = 32, channels: int = 3) -> Generator:
    """Build the DAFL generator; ``img_size`` >= 4, ``channels`` 1 (grayscale) or 3 (RGB) typically."""
    return Generator(latent_dim, img_size, channels)
