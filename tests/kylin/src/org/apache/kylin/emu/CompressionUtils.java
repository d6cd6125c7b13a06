package org.apache.kylin.emu;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * CompressionUtils.compress / decompress (protocol doc section 5): "GZIP" (4 ASCII bytes)
 * followed by a zlib stream from Deflater level 1; content without the prefix is plain.
 */
final class CompressionUtils {
    private static final byte[] MAGIC = "GZIP".getBytes(StandardCharsets.US_ASCII);

    private CompressionUtils() {
    }

    static byte[] compress(byte[] data) {
        Deflater d = new Deflater(1);
        d.setInput(data);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(MAGIC);
        byte[] buf = new byte[4096];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    static byte[] decompress(byte[] data) {
        if (data == null || data.length < 4 || !Arrays.equals(Arrays.copyOf(data, 4), MAGIC)) {
            return data;
        }
        Inflater inf = new Inflater();
        inf.setInput(data, 4, data.length - 4);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            while (!inf.finished()) {
                int n = inf.inflate(buf);
                if (n == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
                out.write(buf, 0, n);
            }
        } catch (DataFormatException e) {
            throw new IllegalStateException(e);
        } finally {
            inf.end();
        }
        return out.toByteArray();
    }
}
