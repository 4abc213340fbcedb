"""astroquery-style clients for four authenticated web services.

==========================  ===========================================
``astroquery_ext.atlas``    ATLAS Transient Server
``astroquery_ext.grad300``  GRAD300 radio-telescope backend
``astroquery_ext.glance``   CERN ATLAS Glance
``astroquery_ext.tupli``    Tupli offline-RL store
==========================  ===========================================

Importing this package (or any of its modules) makes no network call,
prints nothing and changes no global state.
"""

__version__ = "0.1.0.dev0"

#: The services, in the order the docs and the demo present them.
SERVICES = ("atlas", "grad300", "glance", "tupli")

__all__ = ["__version__", "SERVICES"]
