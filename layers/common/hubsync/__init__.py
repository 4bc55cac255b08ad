"""hubsync: keeps HubSpot CRM records in step with another system.

The core is plain Python with injectable clients; the Lambda handlers in ``functions/`` are thin.
Modules are imported where they are used (cold start), so this package re-exports nothing heavy.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
