package org.apache.kylin.emu;

/** One row of {@code <identifier>_epoch} (org.apache.kylin.common.persistence.metadata.Epoch). */
final class Epoch {
    long epochId;
    String epochTarget;
    String currentEpochOwner;
    long lastEpochRenewTime;
    String serverMode;
    String maintenanceModeReason;
    long mvcc;

    Epoch(long epochId, String target, String owner, long renew, String mode, String reason, long mvcc) {
        this.epochId = epochId;
        this.epochTarget = target;
        this.currentEpochOwner = owner == null ? "" : owner;
        this.lastEpochRenewTime = renew;
        this.serverMode = mode;
        this.maintenanceModeReason = reason;
        this.mvcc = mvcc;
    }

    @Override
    public String toString() {
        return "Epoch{" + epochTarget + " id=" + epochId + " owner=" + currentEpochOwner + " renew="
                + lastEpochRenewTime + " mvcc=" + mvcc + "}";
    }
}
