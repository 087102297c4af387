"""tierwise: route each LLM request to the cheapest tier that answers it well.

Importing the package does no I/O and loads no heavy dependency; subpackages load lazily.
"""

__version__ = "0.1.0"
