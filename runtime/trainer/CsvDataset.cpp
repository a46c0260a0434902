// CSV tables: comma-separated, a header row naming the columns, no quoting (numeric data only).
// Every cell must parse as a number; the first that does not is the error, with its row and column.
#include "runtime/trainer/Dataset.h"

#include "runtime/FileIO.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace nnrt::trainer {
namespace {

std::vector<std::string> splitRow(const std::string &line) {
  std::vector<std::string> cells;
  std::stringstream stream(line);
  std::string cell;
  while (std::getline(stream, cell, ','))
    cells.push_back(cell);
  if (!line.empty() && line.back() == ',')
    cells.emplace_back();
  return cells;
}

std::string trim(std::string s) {
  size_t begin = s.find_first_not_of(" \t\r"), end = s.find_last_not_of(" \t\r");
  return begin == std::string::npos ? "" : s.substr(begin, end - begin + 1);
}

} // namespace

nnc::StatusOr<Dataset> loadCsv(const std::string &file, const std::string &labelColumn,
                               nnc::DType labelType, bool allowNonfinite,
                               const std::vector<std::string> *classes) {
  nnc::StatusOr<std::string> text = readFile(file);
  if (!text.ok())
    return text.status();
  return parseCsv(*text, file, labelColumn, labelType, allowNonfinite, classes);
}

nnc::StatusOr<Dataset> parseCsv(const std::string &text, const std::string &file,
                                const std::string &labelColumn, nnc::DType labelType,
                                bool allowNonfinite, const std::vector<std::string> *classes) {
  using nnc::Status;
  std::stringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || trim(line).empty())
    return Status::error(file + ": empty (expected a header row naming the columns)");
  std::vector<std::string> header = splitRow(line);
  int labelIndex = -1;
  for (size_t i = 0; i < header.size(); ++i)
    if (trim(header[i]) == labelColumn)
      labelIndex = int(i);
  if (labelIndex < 0)
    return Status::error(file + ": no column named '" + labelColumn +
                         "' in the header (choose one with --label-column)");
  if (header.size() < 2)
    return Status::error(file + ": no feature columns besides the label '" + labelColumn + "'");

  std::vector<float> features;
  std::vector<double> labels;
  std::vector<std::string> labelNames;  // every row's label cell, as written
  std::vector<int64_t> labelLines;      // and its line, for messages
  bool named = false;                   // some label is not a number: labels are class names
  int64_t row = 1;  // 1-based line numbers, the header being line 1
  while (std::getline(lines, line)) {
    ++row;
    if (trim(line).empty())
      continue;
    std::vector<std::string> cells = splitRow(line);
    if (cells.size() != header.size())
      return Status::error(file + ": line " + std::to_string(row) + " has " +
                           std::to_string(cells.size()) + " cells, the header " +
                           std::to_string(header.size()));
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string cell = trim(cells[i]);
      // A NUL would end strtod's parse (and a name) early: the whole cell must be read.
      if (cell.find('\0') != std::string::npos)
        return Status::error(file + ": line " + std::to_string(row) + ", column '" +
                             trim(header[i]) + "': the cell holds a NUL byte");
      char *end = nullptr;
      double value = std::strtod(cell.c_str(), &end);
      bool isLabel = int(i) == labelIndex;
      if (isLabel && labelType == nnc::I64) {
        if (cell.empty())
          return Status::error(file + ": line " + std::to_string(row) + ", column '" +
                               labelColumn + "': the label is empty");
        named |= *end != '\0';  // a word: every label is then a class name
        labelNames.push_back(cell);
        labelLines.push_back(row);
        labels.push_back(value);
        continue;
      }
      if (cell.empty() || *end != '\0' || (isLabel && !std::isfinite(value)))
        return Status::error(file + ": line " + std::to_string(row) + ", column '" +
                             trim(header[i]) + "': '" + cell + "' is not a number");
      // Features (and float labels) are float: 1e39 would become inf.
      if (!allowNonfinite && !std::isfinite(float(value)))
        return Status::error(file + ": line " + std::to_string(row) + ", column '" +
                             trim(header[i]) + "': '" + cell +
                             "' is not a finite float (--allow-nonfinite-inputs accepts it)");
      if (!isLabel)
        features.push_back(float(value));
      else
        labels.push_back(value);
    }
  }
  int64_t n = int64_t(labels.size());
  if (n == 0)
    return Status::error(file + ": holds no examples (only a header)");
  Dataset data;
  for (int64_t i = 0; i < n && labelType == nnc::I64 && !named; ++i)
    // Beyond int64's range the conversion below would be undefined.
    if (!std::isfinite(labels[i]) || labels[i] != std::floor(labels[i]) ||
        std::fabs(labels[i]) >= 0x1p63)
      return Status::error(file + ": line " + std::to_string(labelLines[i]) + ", column '" +
                           labelColumn + "': label '" + labelNames[i] +
                           "' is not an integer class");
  if (named || (classes && !classes->empty())) {  // class names, numbered in sorted order
    std::vector<std::string> names = labelNames;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    if (classes && !classes->empty())
      names = *classes;
    for (int64_t i = 0; i < n; ++i) {
      auto at = std::find(names.begin(), names.end(), labelNames[i]);
      if (at == names.end())
        return Status::error(file + ": line " + std::to_string(labelLines[i]) + ", column '" +
                             labelColumn + "': class '" + labelNames[i] +
                             "' is not one of the training data's " +
                             std::to_string(names.size()) + " classes");
      labels[i] = double(at - names.begin());
    }
    data.classNames = std::move(names);
  }
  data.featuresFile = data.labelsFile = file;
  data.features = HostTensor::fromFloats({n, int64_t(header.size()) - 1}, features);
  data.labels = HostTensor(labelType, {n});
  for (int64_t i = 0; i < n; ++i) {
    if (labelType == nnc::I64)
      reinterpret_cast<int64_t *>(data.labels.data.data())[i] = int64_t(labels[i]);
    else
      reinterpret_cast<float *>(data.labels.data.data())[i] = float(labels[i]);
  }
  return data;
}

} // namespace nnrt::trainer
