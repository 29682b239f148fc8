"""The errors that mean "bad input, here is the fix" (as opposed to bugs): stages print them
as one message and exit 2 instead of a traceback."""

from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.download import DownloadError
from fmnist_ad.idx import IdxError
from fmnist_ad.params import ParamsError
from fmnist_ad.prepare import ProtocolError
from fmnist_ad.tensors import ImageInputError
from fmnist_ad.training import NonFiniteLossError

USER_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError, DownloadError, FileNotFoundError, IdxError, ImageInputError, ParamsError,
    NonFiniteLossError, ProtocolError,
)
