// Test oracle for crates/znode-size/src/scala_order.rs, run by tests/scala_order_vs_scala.rs.
//
// Reads a case file, one case per line: `<S|P> <map|set> <op> <op> ...`, where S means String keys
// and P means PathId keys, and each op is `+token` (map: `m + (key -> opIndex)`, set: `s + key`)
// or `-token` (`m - key` / `s - key`). Kind `setstr` builds a set like `set` and then prints
// `s.map(_.toString)` (as Marathon writes dependencies), each string prefixed with `'`. A PathId token is `A` (absolute) or `R` (relative)
// followed by `/`-separated segments, e.g. `A/prod/web` or `A` for the root.
//
// Prints one line per case: `<class> | <tokens by iterator> | <tokens by foreach>`.

// Same shape as Marathon 1.3's mesosphere.marathon.state.PathId (whose extra methods and
// `Ordered` parent do not change the synthetic hashCode).
case class PathId(path: List[String], absolute: Boolean = true) {
  override def toString: String = path.mkString(if (absolute) "/" else "", "/", "")
}

object ScalaOrder {
  def pathId(token: String): PathId =
    PathId(token.substring(1).split("/").filter(_.nonEmpty).toList, token.charAt(0) == 'A')

  def token(key: Any): String = key match {
    case p: PathId => (if (p.absolute) "A" else "R") + p.path.map("/" + _).mkString
    case s: String => s
  }

  def run[K](kind: String, ops: Seq[String], parse: String => K): String = {
    val iterated = scala.collection.mutable.ListBuffer[String]()
    val visited = scala.collection.mutable.ListBuffer[String]()
    val cls = if (kind == "map") {
      var m: Map[K, Int] = Map.empty
      for ((op, i) <- ops.zipWithIndex) {
        val k = parse(op.substring(1))
        m = if (op.charAt(0) == '+') m + (k -> i) else m - k
      }
      m.iterator.foreach { case (k, _) => iterated += token(k) }
      m.foreach { case (k, _) => visited += token(k) }
      m.getClass.getName
    } else {
      var s: Set[K] = Set.empty
      for (op <- ops) {
        val k = parse(op.substring(1))
        s = if (op.charAt(0) == '+') s + k else s - k
      }
      if (kind == "setstr") {
        val mapped: Set[String] = s.map(_.toString)
        mapped.iterator.foreach(k => iterated += "'" + k)
        mapped.foreach(k => visited += "'" + k)
        mapped.getClass.getName
      } else {
        s.iterator.foreach(k => iterated += token(k))
        s.foreach(k => visited += token(k))
        s.getClass.getName
      }
    }
    cls + " | " + iterated.mkString(" ") + " | " + visited.mkString(" ")
  }

  def main(args: Array[String]): Unit = {
    val out = new java.io.PrintWriter(new java.io.BufferedWriter(new java.io.OutputStreamWriter(System.out, "UTF-8")))
    for (line <- scala.io.Source.fromFile(args(0), "UTF-8").getLines()) {
      val fields = line.split(" ").toList
      val ops = fields.drop(2)
      out.println(fields.head match {
        case "S" => run[String](fields(1), ops, s => s)
        case "P" => run[PathId](fields(1), ops, pathId)
      })
    }
    out.flush()
  }
}
