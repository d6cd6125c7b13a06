package org.apache.kylin.emu;

/**
 * EnhancedUnitOfWork.doInTransactionWithCheckAndRetry: a project's metadata transaction runs
 * only if checkEpochOwner(unit) holds (else EpochNotMatchException), and the epoch_id seen at
 * the start must still be the row's at the end (JdbcMetadataStore's "EpochId for path %s dose
 * not match" check). Retries are not emulated (maxRetry 1 in ECL's scheduler start).
 */
final class EnhancedUnitOfWork {
    static final class EpochNotMatchException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        EpochNotMatchException(String msg) {
            super(msg);
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private final EpochManager em;

    EnhancedUnitOfWork(EpochManager em) {
        this.em = em;
    }

    void doInTransactionWithCheck(String unit, Body body) throws Exception {
        if (!em.checkEpochOwner(unit)) {
            throw new EpochNotMatchException("System is trying to recover service. Please try again later."
                    + " (epoch of " + unit + " is not owned by this node)");
        }
        long epochId = em.getEpochId(unit); // callers pass the stored project name
        body.run();
        if (!em.checkEpochId(epochId, unit)) {
            throw new EpochNotMatchException("EpochId for path " + unit + " dose not match");
        }
    }
}
