package io.example.hybrid.fraud;

import java.io.Serializable;

/**
 * A record of the rules topic: the job it is for (the key) and its rule set (JSON); or, with
 * neither, the tick of the idle-card sweep that shares the broadcast input.
 */
public final class RuleUpdate implements Serializable {
  private static final long serialVersionUID = 1L;

  public String jobName;
  public String json;

  public RuleUpdate() {}

  static RuleUpdate sweepTick() {
    return new RuleUpdate();
  }

  boolean isSweepTick() {
    return jobName == null && json == null;
  }
}
