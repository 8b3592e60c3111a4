import Transformer

/// A problem with reward data (see `DataError`, shared with the fine-tuning data).
public typealias RewardDataError = DataError
