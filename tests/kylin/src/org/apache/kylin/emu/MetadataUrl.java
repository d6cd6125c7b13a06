package org.apache.kylin.emu;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * kylin.metadata.url in Kylin's StorageURL form: {@code identifier@jdbc,key=value,...}
 * (KylinConfigBase.getMetadataUrl; JdbcUtil.datasourceParameters reads driverClassName, url,
 * username, password). The identifier names every table: {@code <identifier>} (key/value
 * metastore, JdbcMetadataStore) and {@code <identifier>_epoch} (JdbcEpochStore).
 */
final class MetadataUrl {
    final String identifier;
    final Map<String, String> params = new LinkedHashMap<>();

    MetadataUrl(String url) {
        int at = url.indexOf('@');
        if (at <= 0) {
            throw new IllegalArgumentException("metadata url needs identifier@jdbc,...: " + url);
        }
        identifier = url.substring(0, at);
        String[] parts = url.substring(at + 1).split(",");
        if (!parts[0].equals("jdbc")) {
            throw new IllegalArgumentException("only the jdbc metastore is emulated: " + parts[0]);
        }
        for (int k = 1; k < parts.length; k++) {
            int eq = parts[k].indexOf('=');
            if (eq > 0) {
                params.put(parts[k].substring(0, eq).trim(), parts[k].substring(eq + 1).trim());
            }
        }
        if (!identifier.matches("[A-Za-z0-9_]+")) {
            throw new IllegalArgumentException("identifier must be an SQL name: " + identifier);
        }
        if (get("url") == null) {
            throw new IllegalArgumentException("metadata url without url=");
        }
    }

    String get(String k) {
        return params.get(k);
    }

    boolean isPostgres() {
        return get("url").startsWith("jdbc:postgresql:");
    }
}
