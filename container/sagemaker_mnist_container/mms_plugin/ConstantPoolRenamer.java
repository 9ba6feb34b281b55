package mnist.mms;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Renames classes in a class file by rewriting its constant pool's UTF-8 entries: a class's
 * internal name (the name of its CONSTANT_Class entries) and its field descriptor ("Lname;").
 * Every other structure refers to the pool by index, so the rest of the file is copied as it is.
 * Meant for renaming a class to a subclass of it with the constructors the file calls.
 */
final class ConstantPoolRenamer {
    private ConstantPoolRenamer() {}

    static final class Result {
        final byte[] classFile;
        /** The original names of the classes the file named and now names by their new name. */
        final Set<String> renamed;

        Result(byte[] classFile, Set<String> renamed) {
            this.classFile = classFile;
            this.renamed = renamed;
        }
    }

    static Result rename(byte[] classFile, Map<String, String> names) {
        try {
            return rewrite(classFile, names);
        } catch (IOException e) {
            throw new UncheckedIOException("truncated class file", e);
        }
    }

    private static Result rewrite(byte[] classFile, Map<String, String> names) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(classFile));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(classFile.length + 64);
        DataOutputStream out = new DataOutputStream(bytes);
        if (in.readInt() != 0xCAFEBABE) {
            throw new IllegalArgumentException("not a class file");
        }
        out.writeInt(0xCAFEBABE);
        out.writeInt(in.readInt()); // minor and major version
        int count = in.readUnsignedShort();
        out.writeShort(count);
        Set<String> renamed = new TreeSet<>();
        for (int index = 1; index < count; index++) {
            int tag = in.readUnsignedByte();
            out.writeByte(tag);
            if (tag == 1) { // CONSTANT_Utf8, in the class file's modified UTF-8 as readUTF reads it
                String value = in.readUTF();
                String replaced = replacement(value, names, renamed);
                out.writeUTF(replaced == null ? value : replaced);
                continue;
            }
            byte[] body = new byte[entrySize(tag)];
            in.readFully(body);
            out.write(body);
            if (tag == 5 || tag == 6) { // CONSTANT_Long and CONSTANT_Double take two slots
                index++;
            }
        }
        out.write(in.readAllBytes());
        out.flush();
        return new Result(bytes.toByteArray(), renamed);
    }

    private static String replacement(String value, Map<String, String> names, Set<String> renamed) {
        String to = names.get(value);
        if (to != null) {
            renamed.add(value);
            return to;
        }
        if (value.length() > 2 && value.charAt(0) == 'L' && value.endsWith(";")) {
            to = names.get(value.substring(1, value.length() - 1));
            if (to != null) {
                return "L" + to + ";";
            }
        }
        return null;
    }

    private static int entrySize(int tag) {
        switch (tag) {
            case 7: case 8: case 16: case 19: case 20: // Class, String, MethodType, Module, Package
                return 2;
            case 15: // MethodHandle
                return 3;
            case 3: case 4: case 9: case 10: case 11: case 12: case 17: case 18:
                return 4; // Integer, Float, Fieldref, Methodref, InterfaceMethodref, NameAndType, (Invoke)Dynamic
            case 5: case 6: // Long, Double
                return 8;
            default:
                throw new IllegalArgumentException("unknown constant pool tag " + tag);
        }
    }
}
