package org.apache.kylin.emu;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * EpochManager.EpochUpdateManager: the renew of owned rows (batches of renew-batch-size on a
 * pool of renew-epoch-pool-size, bounded by heart-beat-timeout * timeout-rate, one retry),
 * lastRenewEpochSet and the controlled/escaped notifications, and the update (claim) of every
 * project this node does not own.
 */
final class EpochUpdateManager {
    private final EpochManager em;
    private final EventBus bus;
    private final Object renewLock = new Object();
    private final Object updateLock = new Object();
    private final ExecutorService renewExecutor;
    private final int renewBatchSize;
    private final int epochRenewTimeoutSec;
    final Set<String> lastRenewEpochSet = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean updateStarted = new AtomicBoolean(false);

    EpochUpdateManager(EpochManager em, EventBus bus, Config config) {
        this.em = em;
        this.bus = bus;
        this.renewBatchSize = config.renewBatchSize();
        // EpochManager.getEpochRenewTimeout: (int) (timeout * rate), rate <= 0 means 1
        double rate = config.heartBeatTimeoutRate() <= 0 ? 1 : config.heartBeatTimeoutRate();
        this.epochRenewTimeoutSec = (int) (config.heartBeatTimeoutMs() / 1000.0 * rate);
        this.renewExecutor = Executors.newFixedThreadPool(config.renewPoolSize(), r -> {
            Thread t = new Thread(r, "renew-epoch");
            t.setDaemon(true);
            return t;
        });
    }

    void shutdown() {
        renewExecutor.shutdownNow();
    }


    /** EpochUpdateManager.queryEpochAlreadyOwned: owner match only (checkEpochOwnerOnly). */
    private List<Epoch> queryEpochAlreadyOwned() {
        return em.list().stream().filter(em::checkEpochOwnerOnly).collect(Collectors.toList());
    }

    /** EpochUpdateManager.checkAndGetProjectEpoch: null in maintenance mode. */
    private Object[] checkAndGetProjectEpoch(boolean removeOutdatedEpoch) {
        if (em.checkInMaintenanceMode()) {
            return null;
        }
        List<Epoch> ori = new ArrayList<>(queryEpochAlreadyOwned());
        List<String> projectList = em.listProjectWithPermission();
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
            outdated.forEach(em::deleteEpoch);
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
                Set<String> projectSet = new HashSet<>(projectList);
                oriOwned.removeIf(e -> !projectSet.contains(e.epochTarget));
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
                    em.batchRenewEpoch(batch);
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
                synchronized (em.lockOf(p)) {
                    // updateEpochByProject: success && checkEpochOwner
                    if (em.tryUpdateEpoch(p, false) && em.safeCheckEpochOwner(p)) {
                        newEpochs.add(p);
                    }
                }
            }
            notifierAfterUpdatedEpoch("update", Collections.emptySet(), newEpochs);
        }
    }

    private void notifierEscapedProject(Collection<String> escaped) {
        for (String p : escaped) {
            bus.postAsync(() -> em.listener().onProjectEscaped(p)); // ProjectEscapedNotifier
        }
        if (!escaped.isEmpty()) {
            Log.warn("notifier escaped project:" + String.join(",", escaped));
        }
    }

    /** EpochUpdateManager.notifierAfterUpdatedEpoch: new - ori are controlled, ori - new escaped. */
    private void notifierAfterUpdatedEpoch(String type, Set<String> oriEpochs, Set<String> newEpochs) {
        Log.debug("after " + type + " new epoch size:" + newEpochs.size() + ", Project " + String.join(",", newEpochs)
                + " owned by " + em.identity);
        for (String p : newEpochs) {
            if (!oriEpochs.contains(p)) {
                bus.postAsync(() -> em.listener().onProjectControlled(p)); // ProjectControlledNotifier
            }
        }
        Set<String> escaped = new HashSet<>(oriEpochs);
        escaped.removeAll(newEpochs);
        notifierEscapedProject(escaped);
        updateStarted.compareAndSet(false, true); // EpochStartedNotifier: nothing to emulate
    }
}
