"""SNMP poller: credentials, one device poll (pysnmp 7 asyncio), and a schedule that polls many devices."""
