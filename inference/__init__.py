"""Serve a bundle with onnxruntime: `Translator(path).translate(text)`. Never imports torch."""

from inference.backend import Backend, onnx_backend
from inference.bundle import Bundle, BundleError, find_bundles, load_bundle
from inference.runtime import ProviderWarning, select_providers
from inference.source_text import MAX_CHARS, MAX_TOKENS, InputError
from inference.translator import Translation, Translator

__all__ = [
    "Backend",
    "onnx_backend",
    "Bundle",
    "BundleError",
    "find_bundles",
    "load_bundle",
    "ProviderWarning",
    "select_providers",
    "InputError",
    "Translation",
    "Translator",
    "MAX_CHARS",
    "MAX_TOKENS",
]
