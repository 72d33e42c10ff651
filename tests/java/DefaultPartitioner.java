import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

/**
 * Prints the partition Kafka's Java producer picks by default for each key (UTF-8 bytes).
 * The reference our Python producers are checked against; run as a single-file program:
 *   java -cp "$HOVER_KAFKA_CLASSPATH" DefaultPartitioner.java PARTITIONS KEY...
 */
public class DefaultPartitioner {
    public static void main(String[] args) {
        int partitions = Integer.parseInt(args[0]);
        for (int i = 1; i < args.length; i++) {
            byte[] key = args[i].getBytes(StandardCharsets.UTF_8);
            System.out.println(BuiltInPartitioner.partitionForKey(key, partitions));
        }
    }
}
