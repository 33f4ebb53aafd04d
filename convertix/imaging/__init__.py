"""Convertix image-processing core: sniffing, bounded decoding, the operation
pipeline and encoding (convert.py), and a crash/time/memory sandbox for it
(sandbox.py, worker.py, protocol.py). No service framework is imported here."""
from .capabilities import capabilities
from .convert import Converted, InputInfo, convert
from .formats import extension, mime_type
from .limits import Limits
from .magick.policy_check import check_policy
from .sandbox import Sandbox, SandboxCrashed
from .sniff import sniff

__all__ = ["Limits", "sniff", "capabilities", "mime_type", "extension", "convert",
           "Converted", "InputInfo", "check_policy", "Sandbox", "SandboxCrashed"]
