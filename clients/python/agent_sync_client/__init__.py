"""A client for the agent-sync coordination server, standard library only::

    from agent_sync_client import Client

    room = Client("http://localhost:8787").create_room(meta={"title": "demo"})
"""

from .client import Client, WaitLoop
from .errors import SyncError

__all__ = ["Client", "SyncError", "WaitLoop"]
__version__ = "0.1.0"
