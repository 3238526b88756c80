package io.example.hybrid.fraud;

import java.io.Serializable;

/** A record of the rules topic: the job it is for (the key) and its rule set (JSON). */
public final class RuleUpdate implements Serializable {
  private static final long serialVersionUID = 1L;

  public String jobName;
  public String json;

  public RuleUpdate() {}
}
