"""``python -m fmnist_ad score ...``: the ``fmnist-ad`` command."""

from fmnist_ad.cli import main

main()
