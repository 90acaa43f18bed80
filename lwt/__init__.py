"""liftwing-triton's own command line (`lwt`) and local stack (Triton and our backends,
Swift, MediaWiki, Redis, the services process): what runs the flows, never part of them."""
