"""brainfm_lite: compact, tested code behind *Brain MRI Foundation Models, hands-on*."""

__version__ = "0.1.0"
