"""edge-screen's Python training code: breathing/ (breathing-pattern models), xray/ (chest X-ray
classifier) and common/ (what they share). See training/README.md.

Importing any module of this package first imports training.common, which sets OMP_WAIT_POLICY
before torch can load its OpenMP runtime."""

from training import common  # noqa: F401
