"""Pure planning: (desired, actual) -> Plan. No I/O here."""
