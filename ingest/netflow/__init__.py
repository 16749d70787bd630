"""NetFlow v5/v9 and IPFIX: datagram decoder (``decoder``), IANA elements (``fields``), ECS mapping (``ecs``)."""
