package org.apache.kylin.emu;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * Kylin's EpochManager (and its inner EpochUpdateManager), written from the protocol doc and
 * the class's behaviour: legality, owner checks, claim (getNewEpoch / tryUpdateEpoch),
 * renew with batching and lastRenewEpochSet, update of unowned rows, escape notification,
 * maintenance mode, release. Resource groups are off (the default), so every project may be
 * owned by this node.
 */
final class EpochManager {
    static final String GLOBAL = "_global"; // EpochManager.GLOBAL = UnitOfWork.GLOBAL_UNIT
    static final String MAINTAIN_MODE_MOCK_PORT = "0000"; // AddressUtil.MAINTAIN_MODE_MOCK_PORT

    interface Listener {
        void onProjectControlled(String project);

        void onProjectEscaped(String project);
    }

    private final Config config;
    private final JdbcEpochStore epochStore;
    private final NProjectManager projects;
    private final EventBus bus;
    private Listener listener;

    final String identity;
    private final String maintainOwner;
    private final String serverMode;
    private final boolean epochCheckEnabled;
    private final long epochExpiredTimeMs;
    private final int epochRenewTimeoutSec;

    // EpochUpdateManager state
    private final Object renewLock = new Object();
    private final Object updateLock = new Object();
    private final ExecutorService renewExecutor;
    private final int renewBatchSize;
    final Set<String> lastRenewEpochSet = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean updateStarted = new AtomicBoolean(false);
    private final ConcurrentHashMap<String, Object> targetLocks = new ConcurrentHashMap<>();

    EpochManager(Config config, JdbcEpochStore store, NProjectManager projects, EventBus bus, String identity) {
        this.config = config;
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
        // EpochManager.getEpochRenewTimeout: (int) (timeout * rate), rate <= 0 means 1
        double rate = config.heartBeatTimeoutRate() <= 0 ? 1 : config.heartBeatTimeoutRate();
        this.epochRenewTimeoutSec = (int) (epochExpiredTimeMs / 1000.0 * rate);
        this.renewBatchSize = config.renewBatchSize();
        this.renewExecutor = Executors.newFixedThreadPool(config.renewPoolSize(), r -> {
            Thread t = new Thread(r, "renew-epoch");
            t.setDaemon(true);
            return t;
        });
    }

    void setListener(Listener l) {
        this.listener = l;
    }

    /** EpochUpdateLockManager.executeEpochWithLock: one lock per epoch target. */
    private Object lockOf(String target) {
        return targetLocks.computeIfAbsent(target, k -> new Object());
    }

    private static RuntimeException wrap(Exception e) {
        return e instanceof RuntimeException ? (RuntimeException) e : new IllegalStateException(e);
    }

    private List<Epoch> list() {
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

    // ---------------------------------------------------------------- renew / update (EpochUpdateManager)

    /** EpochUpdateManager.queryEpochAlreadyOwned: owner match only (checkEpochOwnerOnly). */
    private List<Epoch> queryEpochAlreadyOwned() {
        return list().stream().filter(this::checkEpochOwnerOnly).collect(Collectors.toList());
    }

    /** EpochUpdateManager.checkAndGetProjectEpoch: null in maintenance mode. */
    private Object[] checkAndGetProjectEpoch(boolean removeOutdatedEpoch) {
        if (checkInMaintenanceMode()) {
            return null;
        }
        List<Epoch> ori = new ArrayList<>(queryEpochAlreadyOwned());
        List<String> projectList = listProjectWithPermission();
        if (removeOutdatedEpoch) {
            removeOutdatedOwnedEpoch(ori, new HashSet<>(projectList));
        }
        return new Object[] { ori, projectList };
    }

    /** EpochUpdateManager.removeOutdatedOwnedEpoch: owned rows of vanished projects are deleted and escape. */
    private void removeOutdatedOwnedEpoch(List<Epoch> owned, Set<String> projectSet) {
        Set<String> outdated = owned.stream().map(e -> e.epochTarget).filter(t -> !projectSet.contains(t))
                .collect(Collectors.toSet());
        if (!outdated.isEmpty()) {
            outdated.forEach(this::deleteEpoch);
            notifierEscapedProject(outdated);
            Log.warn("remove outdated epoch list :" + String.join(",", outdated));
        }
    }

    /** EpochUpdateManager.tryRenewOwnedEpochs. */
    @SuppressWarnings("unchecked")
    void tryRenewOwnedEpochs() {
        synchronized (renewLock) {
            Object[] pair = checkAndGetProjectEpoch(true);
            if (pair == null) {
                return;
            }
            List<Epoch> oriOwned = (List<Epoch>) pair[0];
            List<String> projectList = (List<String>) pair[1];
            if (!oriOwned.isEmpty() && !projectList.isEmpty()) {
                oriOwned.removeIf(e -> !projectList.contains(e.epochTarget));
            }
            if (oriOwned.isEmpty()) {
                // caveat (b): owning nothing ends the renew before any escape is posted
                Log.info("current node own none project, end renew...");
                return;
            }
            Set<String> after = innerRenewEpochWithRetry(oriOwned);
            notifierAfterUpdatedEpoch("renew", new HashSet<>(lastRenewEpochSet), after);
            // caveat (a): lastRenewEpochSet is filled only here
            lastRenewEpochSet.clear();
            lastRenewEpochSet.addAll(after);
        }
    }

    /** EpochUpdateManager.innerRenewEpochWithRetry: oldest renew first, one retry for rows still owned. */
    private Set<String> innerRenewEpochWithRetry(List<Epoch> oriEpochs) {
        Set<String> success = new HashSet<>();
        List<Epoch> need = oriEpochs;
        int retry = 1;
        while (retry >= 0) {
            retry--;
            List<Epoch> sorted = new ArrayList<>(need);
            sorted.sort(Comparator.comparingLong(e -> e.lastEpochRenewTime));
            Set<String> finished = innerRenewEpoch(sorted);
            success.addAll(finished);
            if (success.size() == need.size()) {
                break;
            }
            Set<String> cur = queryEpochAlreadyOwned().stream().map(e -> e.epochTarget).collect(Collectors.toSet());
            need = oriEpochs.stream().filter(e -> !finished.contains(e.epochTarget) && cur.contains(e.epochTarget))
                    .collect(Collectors.toList());
        }
        return success;
    }

    /** EpochUpdateManager.innerRenewEpoch: batches of renew-batch-size on the renew pool, bounded wait. */
    private Set<String> innerRenewEpoch(List<Epoch> epochs) {
        Set<String> renewed = ConcurrentHashMap.newKeySet();
        List<List<Epoch>> batches = new ArrayList<>();
        for (int k = 0; k < epochs.size(); k += renewBatchSize) {
            batches.add(epochs.subList(k, Math.min(epochs.size(), k + renewBatchSize)));
        }
        CountDownLatch latch = new CountDownLatch(batches.size());
        for (List<Epoch> batch : batches) {
            renewExecutor.submit(() -> {
                try {
                    batchRenewEpoch(batch);
                    batch.forEach(e -> renewed.add(e.epochTarget));
                } catch (Exception e) {
                    Log.error("renew task error, " + e);
                } finally {
                    latch.countDown();
                }
            });
        }
        try {
            if (!latch.await(epochRenewTimeoutSec, TimeUnit.SECONDS)) {
                Log.error("renew not finished," + renewed.size() + "/" + epochs.size() + "...");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return renewed;
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

    /** EpochUpdateManager.tryUpdateAllEpochs: claim every non-owned project whose row is not legal. */
    @SuppressWarnings("unchecked")
    void tryUpdateAllEpochs() {
        synchronized (updateLock) {
            Object[] pair = checkAndGetProjectEpoch(false);
            if (pair == null) {
                return;
            }
            Set<String> ori = ((List<Epoch>) pair[0]).stream().map(e -> e.epochTarget).collect(Collectors.toSet());
            List<String> projectList = new ArrayList<>((List<String>) pair[1]);
            projectList.removeAll(ori);
            if (projectList.isEmpty()) {
                return;
            }
            Collections.shuffle(projectList); // tryUpdateEpochByProjects: random order
            Set<String> newEpochs = new LinkedHashSet<>();
            for (String p : projectList) {
                synchronized (lockOf(p)) {
                    // updateEpochByProject: success && checkEpochOwner
                    if (tryUpdateEpoch(p, false) && safeCheckEpochOwner(p)) {
                        newEpochs.add(p);
                    }
                }
            }
            notifierAfterUpdatedEpoch("update", Collections.emptySet(), newEpochs);
        }
    }

    private void notifierEscapedProject(Collection<String> escaped) {
        for (String p : escaped) {
            bus.postAsync(() -> listener.onProjectEscaped(p)); // ProjectEscapedNotifier
        }
        if (!escaped.isEmpty()) {
            Log.warn("notifier escaped project:" + String.join(",", escaped));
        }
    }

    /** EpochUpdateManager.notifierAfterUpdatedEpoch: new - ori are controlled, ori - new escaped. */
    private void notifierAfterUpdatedEpoch(String type, Set<String> oriEpochs, Set<String> newEpochs) {
        Log.debug("after " + type + " new epoch size:" + newEpochs.size() + ", Project " + String.join(",", newEpochs)
                + " owned by " + identity);
        for (String p : newEpochs) {
            if (!oriEpochs.contains(p)) {
                bus.postAsync(() -> listener.onProjectControlled(p)); // ProjectControlledNotifier
            }
        }
        Set<String> escaped = new HashSet<>(oriEpochs);
        escaped.removeAll(newEpochs);
        notifierEscapedProject(escaped);
        updateStarted.compareAndSet(false, true); // EpochStartedNotifier: nothing to emulate
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
        tryRenewOwnedEpochs();
        tryUpdateAllEpochs();
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

    /** EpochManager.checkEpochValid: exact name among the projects, or _global. */
    boolean checkEpochValid(String target) {
        return listProjectWithPermission().contains(target);
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
            List<Epoch> mine = queryEpochAlreadyOwned();
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
        renewExecutor.shutdownNow();
    }
}
