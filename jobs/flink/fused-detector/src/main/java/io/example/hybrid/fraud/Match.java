package io.example.hybrid.fraud;

/** A pattern found: its name, its first charge and what it saw. */
record Match(String pattern, Txn first, String evidence) {}
