package org.apache.kylin.emu;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Kylin's EpochManager, written from the protocol doc and the class's behaviour: legality,
 * owner checks, claim (getNewEpoch / tryUpdateEpoch), maintenance mode, release, delete;
 * renew and update of all rows live in EpochUpdateManager. Resource groups are off (the
 * default), so every project may be owned by this node.
 */
final class EpochManager {
    static final String GLOBAL = "_global"; // EpochManager.GLOBAL = UnitOfWork.GLOBAL_UNIT
    static final String MAINTAIN_MODE_MOCK_PORT = "0000"; // AddressUtil.MAINTAIN_MODE_MOCK_PORT

    interface Listener {
        void onProjectControlled(String project);

        void onProjectEscaped(String project);
    }

    private final JdbcEpochStore epochStore;
    private final NProjectManager projects;
    private final EventBus bus;
    private volatile Listener listener;
    final EpochUpdateManager epochUpdateManager;

    final String identity;
    private final String maintainOwner;
    private final String serverMode;
    private final boolean epochCheckEnabled;
    private final long epochExpiredTimeMs;
    private final long claimDelayMs; // test-only: widens the read-to-write window of a claim
    private final ConcurrentHashMap<String, Object> targetLocks = new ConcurrentHashMap<>();

    EpochManager(Config config, JdbcEpochStore store, NProjectManager projects, EventBus bus, String identity) {
        this.epochStore = store;
        this.projects = projects;
        this.bus = bus;
        this.identity = identity;
        // EpochManager static init: MAINTAIN_OWNER = AddressUtil.getMockPortAddress() + "|" + Long.MAX_VALUE
        this.maintainOwner = config.get("kylin.env.ip-address", config.ip) + ":" + MAINTAIN_MODE_MOCK_PORT + "|"
                + Long.MAX_VALUE;
        this.serverMode = config.serverMode();
        this.epochCheckEnabled = config.leaderRaceEnabled();
        this.epochExpiredTimeMs = config.heartBeatTimeoutMs();
        this.claimDelayMs = (long) config.dbl("kylin.emu.claim-delay-ms", 0);
        this.epochUpdateManager = new EpochUpdateManager(this, bus, config);
    }

    void setListener(Listener l) {
        this.listener = l;
    }

    Listener listener() {
        return listener;
    }

    /** EpochUpdateLockManager.executeEpochWithLock: one lock per epoch target. */
    Object lockOf(String target) {
        return targetLocks.computeIfAbsent(target, k -> new Object());
    }

    private static RuntimeException wrap(Exception e) {
        return e instanceof RuntimeException ? (RuntimeException) e : new IllegalStateException(e);
    }

    List<Epoch> list() {
        try {
            return epochStore.list();
        } catch (Exception e) {
            throw wrap(e);
        }
    }

    Epoch getEpoch(String target) {
        try {
            return epochStore.getEpoch(target);
        } catch (Exception e) {
            throw wrap(e);
        }
    }

    /** EpochManager.batchRenewEpoch: getNewEpoch(force) per row, one updateBatch transaction. */
    void batchRenewEpoch(Collection<Epoch> epochList) throws Exception {
        List<Epoch> need = new ArrayList<>();
        for (Epoch e : epochList) {
            Epoch n = getNewEpoch(copy(e), true, e.epochTarget);
            if (n != null) {
                n.maintenanceModeReason = null; // oldEpoch2NewEpoch sets the (null) reason
                need.add(n);
            }
        }
        epochStore.updateBatch(need);
    }

    private static Epoch copy(Epoch e) {
        return e == null ? null
                : new Epoch(e.epochId, e.epochTarget, e.currentEpochOwner, e.lastEpochRenewTime, e.serverMode,
                        e.maintenanceModeReason, e.mvcc);
    }


    /** EpochManager.listProjectWithPermission: every project (resource groups off) plus _global. */
    List<String> listProjectWithPermission() {
        List<String> l = new ArrayList<>(projects.listAllProjectNames());
        l.add(GLOBAL);
        return l;
    }

    // ---------------------------------------------------------------- claims

    /** EpochManager.tryUpdateEpoch: every failure is logged and swallowed (returns false). */
    boolean tryUpdateEpoch(String target, boolean force) {
        try {
            if (!force && checkInMaintenanceMode()) {
                return false;
            }
        } catch (Exception e) {
            Log.error("Update " + target + " epoch failed. " + e);
            return false;
        }
        synchronized (lockOf(target)) {
            try {
                Epoch old = epochStore.getEpoch(target);
                String oldOwner = old == null ? null : old.currentEpochOwner;
                Epoch n = getNewEpoch(copy(old), force, target);
                if (n == null) {
                    return false; // already has a legal owner and not forced
                }
                n.maintenanceModeReason = null; // oldEpoch2NewEpoch(..., null)
                if (!checkEpochValid(target)) {
                    Log.warn("epoch target " + target + " is invalid, skip to update it ");
                    return false;
                }
                if (claimDelayMs > 0) {
                    Log.info("claim of " + target + " read mvcc " + n.mvcc + ", writing in " + claimDelayMs + " ms");
                    Thread.sleep(claimDelayMs);
                }
                insertOrUpdateEpoch(n);
                if (old != null && !Objects.equals(oldOwner, n.currentEpochOwner)) {
                    Log.debug("Epoch " + target + " changed from " + oldOwner + " to " + n.currentEpochOwner);
                }
                return true;
            } catch (Exception e) {
                Log.error("Update " + target + " epoch failed. " + e);
                return false;
            }
        }
    }

    /** EpochManager.insertOrUpdateEpoch: insert when no row, else the CAS update. */
    private void insertOrUpdateEpoch(Epoch e) throws Exception {
        if (epochStore.getEpoch(e.epochTarget) == null) {
            epochStore.insert(e);
        } else {
            epochStore.update(e);
        }
    }

    /** EpochManager.getNewEpoch. EPOCH is a private copy; null = do not claim. */
    private Epoch getNewEpoch(Epoch epoch, boolean force, String target) {
        if (!epochCheckEnabled || (isMaintenanceIdentity(identity) && epoch == null)) {
            // leader race disabled: unconditional claim, epoch_id 1, renew Long.MAX_VALUE (section 6)
            Epoch n = new Epoch(1L, target, identity, Long.MAX_VALUE, serverMode, null, 0L);
            n.mvcc = epoch == null ? 0 : epoch.mvcc;
            return n;
        }
        if (isMaintenanceIdentity(identity)) {
            return new Epoch(epoch.epochId + 1, target, identity, Long.MAX_VALUE, serverMode, null, epoch.mvcc);
        }
        // currentInstanceHasPermissionToOwn: resource groups off, always true
        if (epoch == null) {
            return new Epoch(1L, target, identity, System.currentTimeMillis(), serverMode, null, 0L);
        }
        if (!checkEpochOwnerOnly(epoch)) {
            if (isEpochLegal(epoch) && !force) {
                return null;
            }
            epoch.epochId = epoch.epochId + 1;
        }
        epoch.serverMode = serverMode;
        epoch.lastEpochRenewTime = System.currentTimeMillis();
        epoch.currentEpochOwner = identity;
        return epoch;
    }

    /** EpochManager.updateAllEpochs = renew then update. */
    synchronized void updateAllEpochs() {
        epochUpdateManager.tryRenewOwnedEpochs();
        epochUpdateManager.tryUpdateAllEpochs();
    }

    /** EpochManager.updateEpochWithNotifier (EpochService.updateEpoch per project). */
    void updateEpochWithNotifier(String target, boolean force) {
        synchronized (lockOf(target)) {
            if (tryUpdateEpoch(target, force)) {
                bus.postAsync(() -> listener.onProjectControlled(target));
            }
        }
    }

    // ---------------------------------------------------------------- checks

    /** EpochManager.checkEpochOwner: the row (name resolved case-insensitively) is legal and ours. */
    boolean checkEpochOwner(String target) {
        Epoch e = getEpochOwnerEpoch(target);
        return e != null && checkEpochOwnerOnly(e);
    }

    /** checkEpochOwner for reports and loops: a metastore error counts as not owner. */
    boolean safeCheckEpochOwner(String target) {
        try {
            return checkEpochOwner(target);
        } catch (Exception e) {
            return false;
        }
    }

    /** EpochManager.checkEpochOwnerOnly: identity match, no legality. */
    boolean checkEpochOwnerOnly(Epoch e) {
        return e.currentEpochOwner != null && e.currentEpochOwner.equals(identity);
    }

    /** EpochManager.checkEpochValid: exact name among the projects (NProjectManager's cache), or _global. */
    boolean checkEpochValid(String target) {
        return GLOBAL.equals(target) || projects.exists(target);
    }

    /** EpochManager.getEpochOwnerEpoch: project looked up with NProjectManager.getProject (ignores case). */
    private Epoch getEpochOwnerEpoch(String target) {
        if (target == null || target.isEmpty()) {
            throw new IllegalStateException("Project should not be empty");
        }
        String name = target;
        if (!GLOBAL.equals(target)) {
            String real = projects.getProject(target);
            if (real == null) {
                return null;
            }
            name = real;
        }
        Epoch e = getEpoch(name);
        return isEpochLegal(e) ? e : null;
    }

    /** EpochManager.getEpochOwner: host:port of the legal owner, else null (errors count as none). */
    String safeOwnerAddress(String target) {
        try {
            Epoch e = getEpochOwnerEpoch(target);
            return e == null ? null : e.currentEpochOwner.split("\\|")[0];
        } catch (Exception ex) {
            return null;
        }
    }

    /** EpochManager.isEpochLegal: owner non-empty and renewed within heart-beat-timeout. */
    boolean isEpochLegal(Epoch e) {
        if (e == null || e.currentEpochOwner == null || e.currentEpochOwner.isEmpty()) {
            return false;
        }
        return System.currentTimeMillis() - e.lastEpochRenewTime <= epochExpiredTimeMs;
    }

    /** EpochManager.checkEpochId (AbstractDefaultSchedulerRunner.checkEpochIdFailed). */
    boolean checkEpochId(long epochId, String target) {
        return getEpochId(target) == epochId;
    }

    /** EpochManager.getEpochId: a missing row throws. */
    long getEpochId(String target) {
        Epoch e = getEpoch(target);
        if (e == null) {
            throw new IllegalStateException("Epoch of project " + target + " does not exist");
        }
        return e.epochId;
    }

    /** EpochManager.deleteEpoch (ProjectDropListener, removeOutdatedOwnedEpoch). */
    void deleteEpoch(String target) {
        synchronized (lockOf(target)) {
            try {
                epochStore.delete(target);
            } catch (Exception e) {
                throw wrap(e);
            }
        }
    }

    // ---------------------------------------------------------------- maintenance, release

    static boolean isMaintenanceIdentity(String id) {
        return id != null && id.contains(":" + MAINTAIN_MODE_MOCK_PORT);
    }

    /** EpochManager.isMaintenanceMode: the _global row's owner carries the :0000 marker. */
    boolean isMaintenanceMode() {
        Epoch g = getEpoch(GLOBAL);
        return g != null && isMaintenanceIdentity(g.currentEpochOwner);
    }

    /** EpochManager.checkInMaintenanceMode. */
    boolean checkInMaintenanceMode() {
        if (isMaintenanceMode()) {
            Log.debug("System is currently undergoing maintenance. Abort updating Epochs");
            return true;
        }
        return false;
    }

    /** EpochManager.setMaintenanceMode / unsetMaintenanceMode: every row, one transaction. */
    boolean switchMaintenanceMode(boolean on, String reason) throws Exception {
        if (isMaintenanceMode() == on) {
            return false; // checkExpectedIsMaintenance
        }
        List<Epoch> all = list();
        for (Epoch e : all) {
            e.currentEpochOwner = on ? maintainOwner : "";
            e.lastEpochRenewTime = on ? Long.MAX_VALUE : -1L;
            e.maintenanceModeReason = reason;
        }
        epochStore.updateBatch(all);
        return true;
    }

    /** EpochManager.releaseOwnedEpochs: owner "" and renew -1 on every row this node owns. */
    void releaseOwnedEpochs() {
        Log.info("Release owned epochs");
        try {
            List<Epoch> mine = list().stream().filter(this::checkEpochOwnerOnly).collect(Collectors.toList());
            for (Epoch e : mine) {
                e.currentEpochOwner = "";
                e.lastEpochRenewTime = -1L;
            }
            epochStore.updateBatch(mine);
        } catch (Exception e) {
            throw wrap(e);
        }
    }

    void shutdown() {
        epochUpdateManager.shutdown();
    }
}
