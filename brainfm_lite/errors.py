"""Typed errors. Every message names the file (when there is one) and what is wrong with it."""


class BrainFMError(Exception):
    """Base class for every error raised on purpose by brainfm_lite."""


class InputError(BrainFMError, ValueError):
    """An input (file, array, argument) that cannot be used as given.

    A subclass of ``ValueError`` so that code catching ``ValueError`` keeps working.
    """


class ChecksumError(BrainFMError):
    """A downloaded or cached file whose sha256 does not match the registry."""


class DownloadError(BrainFMError, OSError):
    """A download that could not finish: network failure, HTTP error, or a connection closed early.

    A subclass of ``OSError`` so that code catching network errors keeps working. Any ``.part`` file is kept, so
    calling again resumes where the transfer stopped.
    """
