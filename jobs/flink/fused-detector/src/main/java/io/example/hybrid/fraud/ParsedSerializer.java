package io.example.hybrid.fraud;

import java.io.IOException;
import java.util.Map;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInfoFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * How a parsed record crosses from the source to the detector: its fields written in turn.
 * Flink's POJO serializer reads and writes every field through reflection, which was a tenth
 * of each side's time (measured with JFR). Parsed records are never kept in state, so this
 * format can change freely.
 */
public final class ParsedSerializer extends TypeSerializerSingleton<Parsed> {
  private static final long serialVersionUID = 1L;
  static final ParsedSerializer INSTANCE = new ParsedSerializer();

  private static final byte VALID = 1;
  private static final byte INVALID = 2;

  @Override
  public boolean isImmutableType() {
    return false;
  }

  @Override
  public Parsed createInstance() {
    return new Parsed();
  }

  @Override
  public Parsed copy(Parsed from) {
    Parsed to = new Parsed();
    to.ts = from.ts;
    to.cardId = from.cardId;
    to.invalid = from.invalid == null ? null : from.invalid.clone();
    Txn t = from.txn;
    if (t != null) {
      to.txn = new Txn(t.ts, t.txnId, t.customerId, t.cents, t.country, t.lat, t.lon);
    }
    return to;
  }

  @Override
  public Parsed copy(Parsed from, Parsed reuse) {
    return copy(from);
  }

  @Override
  public int getLength() {
    return -1;
  }

  @Override
  public void serialize(Parsed record, DataOutputView out) throws IOException {
    out.writeLong(record.ts);
    Txn t = record.txn;
    if (t != null) {
      out.writeByte(VALID);
      StringValue.writeString(record.cardId, out);
      StringValue.writeString(t.txnId, out);
      StringValue.writeString(t.customerId, out);
      out.writeLong(t.cents);
      StringValue.writeString(t.country, out);
      out.writeDouble(t.lat);
      out.writeDouble(t.lon);
    } else {
      out.writeByte(INVALID);
      out.writeInt(record.invalid.length);
      out.write(record.invalid);
    }
  }

  @Override
  public Parsed deserialize(DataInputView in) throws IOException {
    Parsed record = new Parsed();
    record.ts = in.readLong();
    if (in.readByte() == VALID) {
      record.cardId = StringValue.readString(in);
      record.txn =
          new Txn(
              record.ts,
              StringValue.readString(in),
              StringValue.readString(in),
              in.readLong(),
              StringValue.readString(in),
              in.readDouble(),
              in.readDouble());
    } else {
      record.invalid = new byte[in.readInt()];
      in.readFully(record.invalid);
    }
    return record;
  }

  @Override
  public Parsed deserialize(Parsed reuse, DataInputView in) throws IOException {
    return deserialize(in);
  }

  @Override
  public void copy(DataInputView in, DataOutputView out) throws IOException {
    serialize(deserialize(in), out);
  }

  @Override
  public TypeSerializerSnapshot<Parsed> snapshotConfiguration() {
    return new Snapshot();
  }

  /** The serializer has no configuration: its snapshot only names it. */
  public static final class Snapshot extends SimpleTypeSerializerSnapshot<Parsed> {
    public Snapshot() {
      super(() -> INSTANCE);
    }
  }

  /** Makes Flink use this serializer wherever a stream carries Parsed records. */
  public static final class Factory extends TypeInfoFactory<Parsed> {
    @Override
    public TypeInformation<Parsed> createTypeInfo(
        java.lang.reflect.Type type, Map<String, TypeInformation<?>> parameters) {
      return new Info();
    }
  }

  static final class Info extends TypeInformation<Parsed> {
    private static final long serialVersionUID = 1L;

    @Override
    public boolean isBasicType() {
      return false;
    }

    @Override
    public boolean isTupleType() {
      return false;
    }

    @Override
    public int getArity() {
      return 1;
    }

    @Override
    public int getTotalFields() {
      return 1;
    }

    @Override
    public Class<Parsed> getTypeClass() {
      return Parsed.class;
    }

    @Override
    public boolean isKeyType() {
      return false;
    }

    @Override
    public TypeSerializer<Parsed> createSerializer(SerializerConfig config) {
      return INSTANCE;
    }

    @Override
    public String toString() {
      return "Parsed";
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Info;
    }

    @Override
    public int hashCode() {
      return Info.class.hashCode();
    }

    @Override
    public boolean canEqual(Object other) {
      return other instanceof Info;
    }
  }
}
