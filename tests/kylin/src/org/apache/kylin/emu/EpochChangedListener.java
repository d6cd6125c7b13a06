package org.apache.kylin.emu;

/**
 * EpochChangedListener (registered on job/all nodes only, AppInitializer):
 * onProjectControlled -> scheduler start inside a checkEpochOwner transaction, no-op when a
 * scheduler with the row's epoch_id already runs; onProjectEscaped -> schedulers shut down.
 * The _global row starts no project scheduler.
 */
final class EpochChangedListener implements EpochManager.Listener {
    private final EpochManager em;
    private final EnhancedUnitOfWork uow;

    EpochChangedListener(EpochManager em, EnhancedUnitOfWork uow) {
        this.em = em;
        this.uow = uow;
    }

    @Override
    public void onProjectControlled(String project) {
        if (EpochManager.GLOBAL.equals(project)) {
            return; // doOnGlobalControlled: admin users, user groups, metastore uuid: not emulated
        }
        if (!em.checkEpochValid(project)) {
            Log.warn("epoch:" + project + " is invalid in project controlled");
            return;
        }
        NDefaultScheduler old = NDefaultScheduler.getInstance(project);
        if (old.hasStarted() && em.checkEpochId(old.getEpochId(), project)) {
            return;
        }
        if (old.hasStarted()) {
            old.forceShutdown();
        }
        Log.info("start thread of project: " + project);
        try {
            uow.doInTransactionWithCheck(project, () -> {
                NDefaultScheduler s = NDefaultScheduler.getInstance(project);
                s.init();
                if (!s.hasStarted()) {
                    throw new IllegalStateException("Scheduler for " + project + " has not been started");
                }
            });
        } catch (Exception e) {
            // owner check failed before the body: nothing started; a failed end check leaves
            // the scheduler started, to be stopped by its next epoch_id check (as in Kylin)
            Log.warn("start of project " + project + " failed: " + e.getMessage());
        }
    }

    @Override
    public void onProjectEscaped(String project) {
        if (EpochManager.GLOBAL.equals(project)) {
            return;
        }
        Log.info("Shutdown related thread: " + project);
        // NExecutableManager.destoryAllProcess, QueryHistoryTaskScheduler, StreamingScheduler: nothing to kill here
        NDefaultScheduler.shutdownByProject(project);
    }
}
