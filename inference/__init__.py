"""Serve a bundle with onnxruntime: `Translator(path).translate(text)`. Never imports torch."""
from inference.bundle import Bundle, BundleError, find_bundles, load_bundle
from inference.runtime import ProviderWarning, select_providers
from inference.translator import MAX_CHARS, MAX_TOKENS, InputError, Translation, Translator

__all__ = ["Bundle", "BundleError", "find_bundles", "load_bundle", "ProviderWarning", "select_providers",
           "InputError", "Translation", "Translator", "MAX_CHARS", "MAX_TOKENS"]
